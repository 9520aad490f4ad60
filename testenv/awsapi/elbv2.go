package awsapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Elastic Load Balancing v2 speaks the AWS Query protocol: `POST /` with a
// form-encoded body carrying Action and Version=2015-12-01, answered with
// XML in ELBv2's namespace; errors are <ErrorResponse><Error> with HTTP 400.
// The endpoint implements what opsrun uses around a deploy:
// DescribeTargetGroups, RegisterTargets, DeregisterTargets and
// DescribeTargetHealth, over target groups a test adds with
// AddTargetGroup. Targets go through ELB's states: a registered target is
// initial, then healthy after the group's HealthyAfter; a deregistered one
// is draining for the group's DeregistrationDelay, then gone (described as
// unused, Target.NotRegistered, as ELB does), which is what the SDK's
// TargetDeregistered and TargetInService waiters look for.

// ELBv2Version is the API version the SDK's ELBv2 client sends and the one
// whose XML namespace the responses use.
const ELBv2Version = "2015-12-01"

const elbNamespace = "http://elasticloadbalancing.amazonaws.com/doc/" + ELBv2Version + "/"

// elbAccount is the account the local target groups' ARNs name.
const elbAccount = "123456789012"

// Target states, as DescribeTargetHealth reports them.
const (
	TargetInitial   = "initial"
	TargetHealthy   = "healthy"
	TargetUnhealthy = "unhealthy"
	TargetDraining  = "draining"
	TargetUnused    = "unused"
)

// Target is one target of a target group: registered (initial, healthy or
// unhealthy) or draining.
type Target struct {
	ID    string
	Port  int
	State string
}

// TargetGroupConfig is how a target group treats its targets. A new
// group's is the zero value: a target is healthy as soon as it is
// registered and gone as soon as it is deregistered.
type TargetGroupConfig struct {
	// HealthyAfter is how long a registered target stays initial.
	HealthyAfter time.Duration
	// DeregistrationDelay is how long a deregistered target drains.
	DeregistrationDelay time.Duration
	// Unused makes the group one no load balancer sends traffic to: its
	// registered targets are unused (Target.NotInUse) and never healthy.
	Unused bool
}

// elbState is the server's target groups, guarded by Server.mu.
type elbState struct {
	groups []*targetGroup
}

type targetGroup struct {
	arn, name, targetType string
	port                  int
	config                TargetGroupConfig
	targets               []*elbTarget
}

type elbTarget struct {
	id           string
	port         int
	registered   time.Time
	deregistered time.Time // zero while registered
	unhealthy    bool      // fails the group's health checks
}

// AddTargetGroup adds an empty target group of targetType (instance, ip,
// lambda or alb) whose targets listen on port, and returns its ARN, in the
// endpoint's default region.
func (s *Server) AddTargetGroup(name string, port int, targetType string) string {
	var id [8]byte
	_, _ = rand.Read(id[:])
	g := &targetGroup{
		arn:  fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:targetgroup/%s/%s", DefaultRegion, elbAccount, name, hex.EncodeToString(id[:])),
		name: name, targetType: targetType, port: port,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.elb.groups = append(s.elb.groups, g)
	return g.arn
}

// SetTargetGroupConfig sets how the group treats its targets from now on.
func (s *Server) SetTargetGroupConfig(arn string, c TargetGroupConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.elb.group(arn)
	if g == nil {
		return fmt.Errorf("no target group %s", arn)
	}
	g.config = c
	return nil
}

// SetTargetUnhealthy makes the registered target id of the group fail (or
// pass again) the group's health checks.
func (s *Server) SetTargetUnhealthy(arn, id string, unhealthy bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.elb.group(arn)
	if g == nil {
		return fmt.Errorf("no target group %s", arn)
	}
	found := false
	for _, t := range g.live(time.Now()) {
		if t.id == id && t.deregistered.IsZero() {
			t.unhealthy, found = unhealthy, true
		}
	}
	if !found {
		return fmt.Errorf("target group %s has no registered target %s", arn, id)
	}
	return nil
}

// Targets returns the group's targets that are registered or draining, in
// registration order; nil for a group the server does not have.
func (s *Server) Targets(arn string) []Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.elb.group(arn)
	if g == nil {
		return nil
	}
	now := time.Now()
	out := []Target{}
	for _, t := range g.live(now) {
		st, _, _ := t.health(g, now)
		out = append(out, Target{ID: t.id, Port: t.port, State: st})
	}
	return out
}

func (e *elbState) group(arn string) *targetGroup {
	for _, g := range e.groups {
		if g.arn == arn {
			return g
		}
	}
	return nil
}

// live drops the targets whose draining ended and returns the others.
func (g *targetGroup) live(now time.Time) []*elbTarget {
	g.targets = slices.DeleteFunc(g.targets, func(t *elbTarget) bool {
		return !t.deregistered.IsZero() && !now.Before(t.deregistered.Add(g.config.DeregistrationDelay))
	})
	return g.targets
}

// find is the live target with id and port.
func (g *targetGroup) find(now time.Time, id string, port int) *elbTarget {
	for _, t := range g.live(now) {
		if t.id == id && t.port == port {
			return t
		}
	}
	return nil
}

// health is a live target's state, reason and description now.
func (t *elbTarget) health(g *targetGroup, now time.Time) (state, reason, desc string) {
	switch {
	case !t.deregistered.IsZero():
		return TargetDraining, "Target.DeregistrationInProgress", "Target deregistration is in progress"
	case g.config.Unused:
		return TargetUnused, "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"
	case now.Before(t.registered.Add(g.config.HealthyAfter)):
		return TargetInitial, "Elb.RegistrationInProgress", "Target registration is in progress"
	case t.unhealthy:
		return TargetUnhealthy, "Target.FailedHealthChecks", "Health checks failed"
	}
	return TargetHealthy, "", ""
}

// serveELBv2 answers one ELBv2 Query request for action, whose form is
// parsed.
func (s *Server) serveELBv2(w http.ResponseWriter, action string, form url.Values, reqID string) {
	var (
		result any
		err    *apiError
	)
	// The SDK takes the request id of an answer from this header.
	w.Header().Set("X-Amzn-RequestId", reqID)
	switch action {
	case "DescribeTargetGroups":
		result, err = s.describeTargetGroups(form)
	case "RegisterTargets":
		result, err = s.changeTargets(form, true)
	case "DeregisterTargets":
		result, err = s.changeTargets(form, false)
	case "DescribeTargetHealth":
		result, err = s.describeTargetHealth(form)
	default:
		err = &apiError{Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service (the local testenv endpoint implements DescribeTargetGroups, RegisterTargets, DeregisterTargets and DescribeTargetHealth).", action)}
	}
	if err != nil {
		writeQueryError(w, elbNamespace, reqID, err)
		return
	}
	writeXML(w, http.StatusOK, elbResponse{
		XMLName:  xml.Name{Local: action + "Response"},
		Xmlns:    elbNamespace,
		Result:   result,
		Metadata: responseMetadata{RequestID: reqID},
	})
}

// elbResponse is an ELBv2 answer: <ActionResponse><ActionResult>...
// </ActionResult><ResponseMetadata>. Result is one of the *Result types,
// whose XMLName names it.
type elbResponse struct {
	XMLName  xml.Name
	Xmlns    string `xml:"xmlns,attr"`
	Result   any
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

// emptyResult is the result of an action that returns nothing.
type emptyResult struct {
	XMLName xml.Name
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type targetGroupsResult struct {
	XMLName      xml.Name         `xml:"DescribeTargetGroupsResult"`
	TargetGroups []xmlTargetGroup `xml:"TargetGroups>member"`
	NextMarker   string           `xml:"NextMarker,omitempty"`
}

type xmlTargetGroup struct {
	TargetGroupArn  string `xml:"TargetGroupArn"`
	TargetGroupName string `xml:"TargetGroupName"`
	Protocol        string `xml:"Protocol"`
	Port            int    `xml:"Port"`
	VpcID           string `xml:"VpcId"`
	TargetType      string `xml:"TargetType"`
	IPAddressType   string `xml:"IpAddressType"`
}

type targetHealthResult struct {
	XMLName      xml.Name                     `xml:"DescribeTargetHealthResult"`
	Descriptions []xmlTargetHealthDescription `xml:"TargetHealthDescriptions>member"`
}

type xmlTargetHealthDescription struct {
	Target          xmlTarget       `xml:"Target"`
	HealthCheckPort string          `xml:"HealthCheckPort"`
	TargetHealth    xmlTargetHealth `xml:"TargetHealth"`
}

type xmlTarget struct {
	ID   string `xml:"Id"`
	Port int    `xml:"Port"`
}

type xmlTargetHealth struct {
	State       string `xml:"State"`
	Reason      string `xml:"Reason,omitempty"`
	Description string `xml:"Description,omitempty"`
}

// Page sizes DescribeTargetGroups accepts, as ELB.
const (
	minTargetGroupPage = 1
	maxTargetGroupPage = 400
)

// describeTargetGroups implements DescribeTargetGroups: TargetGroupArns
// or Names (every group when neither), PageSize and Marker paging.
func (s *Server) describeTargetGroups(form url.Values) (any, *apiError) {
	arns, names := indexedList(form, "TargetGroupArns.member."), indexedList(form, "Names.member.")
	if len(arns) > 0 && len(names) > 0 {
		return nil, &apiError{Code: "ValidationError", Message: "Target group ARNs and target group names cannot be specified at the same time"}
	}
	pageSize := maxTargetGroupPage
	if v := form.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minTargetGroupPage || n > maxTargetGroupPage {
			return nil, &apiError{Code: "ValidationError", Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'pageSize' failed to satisfy constraint: Member must have value between %d and %d", v, minTargetGroupPage, maxTargetGroupPage)}
		}
		pageSize = n
	}
	start := 0
	if m := form.Get("Marker"); m != "" {
		n, ok := decodeToken(m)
		if !ok {
			return nil, &apiError{Code: "ValidationError", Message: fmt.Sprintf("The marker %q is not valid.", m)}
		}
		start = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*targetGroup
	switch {
	case len(arns) > 0:
		for _, arn := range arns {
			g := s.elb.group(arn)
			if g == nil {
				return nil, targetGroupNotFound(arn)
			}
			matched = append(matched, g)
		}
	case len(names) > 0:
		for _, name := range names {
			i := slices.IndexFunc(s.elb.groups, func(g *targetGroup) bool { return g.name == name })
			if i < 0 {
				return nil, &apiError{Code: "TargetGroupNotFound", Message: fmt.Sprintf("Target groups '[%s]' not found", name)}
			}
			matched = append(matched, s.elb.groups[i])
		}
	default:
		matched = s.elb.groups
	}
	res := targetGroupsResult{TargetGroups: []xmlTargetGroup{}}
	for i := start; i < len(matched) && i < start+pageSize; i++ {
		g := matched[i]
		res.TargetGroups = append(res.TargetGroups, xmlTargetGroup{
			TargetGroupArn: g.arn, TargetGroupName: g.name, Protocol: "HTTP", Port: g.port,
			VpcID: "vpc-0opsruntestenv0", TargetType: g.targetType, IPAddressType: "ipv4",
		})
	}
	if start+pageSize < len(matched) {
		res.NextMarker = encodeToken(start + pageSize)
	}
	return res, nil
}

// instanceIDPattern is what an instance target's id looks like.
var instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// formTargets reads Targets.member.N.Id/Port; a target without a port
// has the group's.
func formTargets(form url.Values, g *targetGroup) ([]xmlTarget, *apiError) {
	var out []xmlTarget
	for i := 1; ; i++ {
		prefix := "Targets.member." + strconv.Itoa(i) + "."
		id := form.Get(prefix + "Id")
		if id == "" {
			if form.Has(prefix + "Port") {
				return nil, &apiError{Code: "ValidationError", Message: fmt.Sprintf("Targets.member.%d.Id is required", i)}
			}
			return out, nil
		}
		t := xmlTarget{ID: id, Port: g.port}
		if v := form.Get(prefix + "Port"); v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				return nil, &apiError{Code: "ValidationError", Message: fmt.Sprintf("1 validation error detected: Value '%s' at 'targets.%d.member.port' failed to satisfy constraint: Member must have value between 1 and 65535", v, i)}
			}
			t.Port = p
		}
		out = append(out, t)
	}
}

// formGroup is the request's TargetGroupArn's group and its Targets.
func (s *Server) formGroup(form url.Values) (*targetGroup, []xmlTarget, *apiError) {
	arn := form.Get("TargetGroupArn")
	if arn == "" {
		return nil, nil, &apiError{Code: "ValidationError", Message: "1 validation error detected: Value null at 'targetGroupArn' failed to satisfy constraint: Member must not be null"}
	}
	g := s.elb.group(arn)
	if g == nil {
		return nil, nil, targetGroupNotFound(arn)
	}
	targets, aerr := formTargets(form, g)
	return g, targets, aerr
}

func targetGroupNotFound(arn string) *apiError {
	return &apiError{Code: "TargetGroupNotFound", Message: fmt.Sprintf("Target groups '%s' not found", arn)}
}

// changeTargets implements RegisterTargets (register) and
// DeregisterTargets. Deregistering a target that is not registered with
// that port does nothing, as ELB; one the group's type cannot hold is an
// InvalidTarget error either way.
func (s *Server) changeTargets(form url.Values, register bool) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, targets, aerr := s.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	if len(targets) == 0 {
		return nil, &apiError{Code: "ValidationError", Message: "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null"}
	}
	for _, t := range targets {
		if aerr := g.check(t.ID); aerr != nil {
			return nil, aerr
		}
	}
	now := time.Now()
	for _, t := range targets {
		cur := g.find(now, t.ID, t.Port)
		switch {
		case register && cur == nil:
			g.targets = append(g.targets, &elbTarget{id: t.ID, port: t.Port, registered: now})
		case register && !cur.deregistered.IsZero():
			// Registered again while draining: back in service, checked anew.
			cur.deregistered, cur.registered, cur.unhealthy = time.Time{}, now, false
		case !register && cur != nil && cur.deregistered.IsZero():
			cur.deregistered = now
		}
	}
	return emptyResult{XMLName: xml.Name{Local: form.Get("Action") + "Result"}}, nil
}

// check refuses a target id the group's type cannot hold.
func (g *targetGroup) check(id string) *apiError {
	switch g.targetType {
	case "instance":
		if !instanceIDPattern.MatchString(id) {
			return &apiError{Code: "InvalidTarget", Message: fmt.Sprintf("The following targets are not valid instance IDs: %s", id)}
		}
	case "ip":
		if net.ParseIP(id) == nil {
			return &apiError{Code: "InvalidTarget", Message: fmt.Sprintf("The following targets are not valid IP addresses: %s", id)}
		}
	}
	return nil
}

// describeTargetHealth implements DescribeTargetHealth: the named targets
// (unused, Target.NotRegistered, when not in the group), or every target
// registered or draining.
func (s *Server) describeTargetHealth(form url.Values) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, asked, aerr := s.formGroup(form)
	if aerr != nil {
		return nil, aerr
	}
	now := time.Now()
	res := targetHealthResult{Descriptions: []xmlTargetHealthDescription{}}
	describe := func(t xmlTarget, state, reason, desc string) {
		res.Descriptions = append(res.Descriptions, xmlTargetHealthDescription{
			Target: t, HealthCheckPort: strconv.Itoa(t.Port),
			TargetHealth: xmlTargetHealth{State: state, Reason: reason, Description: desc},
		})
	}
	if len(asked) == 0 {
		for _, t := range g.live(now) {
			st, reason, desc := t.health(g, now)
			describe(xmlTarget{ID: t.id, Port: t.port}, st, reason, desc)
		}
		return res, nil
	}
	for _, a := range asked {
		if t := g.find(now, a.ID, a.Port); t != nil {
			st, reason, desc := t.health(g, now)
			describe(a, st, reason, desc)
			continue
		}
		if aerr := g.check(a.ID); aerr != nil {
			return nil, aerr
		}
		describe(a, TargetUnused, "Target.NotRegistered", "Target is not registered to the target group")
	}
	return res, nil
}
