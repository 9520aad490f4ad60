package awsapi

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Instance is one EC2 instance as DescribeInstances reports it.
type Instance struct {
	ID               string // i-...
	ImageID          string // ami-...; empty reports none
	State            string // pending, running, shutting-down, terminated, stopping or stopped
	Type             string // e.g. t3.micro
	AvailabilityZone string
	PrivateIP        string
	PublicIP         string
	PrivateDNS       string
	PublicDNS        string
	Tags             map[string]string
	LaunchTime       time.Time

	SubnetID       string // subnet-...
	VpcID          string // vpc-...
	KeyName        string
	SecurityGroups []SecurityGroup
	// StateReason says why the instance last changed state when EC2 says
	// so (a stop, a failed launch, a machine that died); zero for none.
	StateReason StateReason
	// StateTransitionReason is EC2's free-text reason for the last
	// transition, e.g. "User initiated (2026-01-02 03:04:05 GMT)".
	StateTransitionReason string
	// ReservationID is the reservation RunInstances made the instance in;
	// empty derives one from ID (one reservation per instance).
	ReservationID string
	// ClientToken is the idempotency token of the RunInstances request
	// that made the instance.
	ClientToken string
}

// SecurityGroup is one of an instance's security groups.
type SecurityGroup struct {
	ID   string // sg-...
	Name string
}

// StateReason is EC2's machine-readable reason for a state change: Code
// such as "Client.UserInitiatedShutdown" or "Server.InternalError", and a
// Message that starts with the code.
type StateReason struct {
	Code    string
	Message string
}

// stateCodes are EC2's numeric instance state codes.
var stateCodes = map[string]int{
	"pending":       0,
	"running":       16,
	"shutting-down": 32,
	"terminated":    48,
	"stopping":      64,
	"stopped":       80,
}

// Paging limits of real DescribeInstances, kept so that a client that
// works here does not fail against AWS.
const (
	minMaxResults = 5
	maxMaxResults = 1000
)

// describeInstances implements DescribeInstances: InstanceId.N, Filter.N
// and MaxResults/NextToken paging. With a backend, the instances' states
// are first brought up to date with their machines (see Backend.Observe).
func (s *Server) describeInstances(ctx context.Context, form url.Values, reqID string) (any, *apiError) {
	ids := indexedList(form, "InstanceId.")
	filters, aerr := parseFilters(form)
	if aerr != nil {
		return nil, aerr
	}
	pageSize := s.PageSize
	if v := form.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minMaxResults || n > maxMaxResults {
			return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Value (%s) for parameter maxResults is invalid. Expecting a value between %d and %d.", v, minMaxResults, maxMaxResults)}
		}
		if len(ids) > 0 {
			return nil, &apiError{Code: "InvalidParameterCombination", Message: "The parameter instancesSet cannot be used with the parameter maxResults"}
		}
		pageSize = n
	}
	start := 0
	if tok := form.Get("NextToken"); tok != "" {
		n, ok := decodeToken(tok)
		if !ok {
			return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The NextToken %q is not valid.", tok)}
		}
		start = n
	}

	if aerr := s.refresh(ctx, ids); aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	all := cloneInstances(s.instances)
	s.mu.Unlock()

	var matched []Instance
	if len(ids) > 0 {
		byID := make(map[string]Instance, len(all))
		for _, inst := range all {
			byID[inst.ID] = inst
		}
		var missing []string
		for _, id := range ids {
			inst, ok := byID[id]
			if !ok {
				missing = append(missing, id)
				continue
			}
			if filters.match(inst) {
				matched = append(matched, inst)
			}
		}
		if len(missing) > 0 {
			return nil, &apiError{Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", "))}
		}
	} else {
		for _, inst := range all {
			if filters.match(inst) {
				matched = append(matched, inst)
			}
		}
	}
	if start > len(matched) {
		return nil, &apiError{Code: "InvalidParameterValue", Message: "The NextToken is past the end of the results; start again without it."}
	}
	page := matched[start:]
	next := ""
	if pageSize > 0 && len(page) > pageSize {
		page = page[:pageSize]
		next = encodeToken(start + pageSize)
	}
	out := describeInstancesResponse{Xmlns: ec2Namespace, RequestID: reqID, NextToken: next, Reservations: []reservationXML{}}
	for _, inst := range page {
		// Instances of one RunInstances call share its reservation.
		if n := len(out.Reservations); n > 0 && out.Reservations[n-1].ReservationID == reservationID(inst) {
			out.Reservations[n-1].Instances = append(out.Reservations[n-1].Instances, instanceXMLOf(inst))
			continue
		}
		out.Reservations = append(out.Reservations, reservationOf(inst))
	}
	return out, nil
}

// Tokens are opaque to clients; base64 keeps them from looking like
// offsets anyone should build by hand.
func encodeToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

func decodeToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(b), "offset:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n >= 0
}

// indexedList reads the Query protocol's list encoding, prefix1, prefix2,
// ... (1-based, in order), stopping at the first gap.
func indexedList(form url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[prefix+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

// filter is one Filter.N: an instance matches when the named attribute
// matches any of the values.
type filter struct {
	name   string
	values []*regexp.Regexp
}

type filterSet []filter

// supportedFilters are the DescribeInstances filter names this endpoint
// implements (besides tag:KEY); any other answers InvalidParameterValue so
// that a test never passes because a filter was silently ignored.
var supportedFilters = map[string]bool{
	"tag-key":             true,
	"instance-state-name": true,
	"instance-id":         true,
}

func parseFilters(form url.Values) (filterSet, *apiError) {
	var fs filterSet
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i) + "."
		name, ok := form[p+"Name"]
		if !ok || len(name) == 0 {
			return fs, nil
		}
		n := name[0]
		if !strings.HasPrefix(n, "tag:") && !supportedFilters[n] {
			return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The filter '%s' is invalid (the local testenv endpoint supports tag:KEY, tag-key, instance-state-name and instance-id).", n)}
		}
		vals := indexedList(form, p+"Value.")
		if len(vals) == 0 {
			return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The filter '%s' has no values.", n)}
		}
		f := filter{name: n}
		for _, v := range vals {
			f.values = append(f.values, globRegexp(v))
		}
		fs = append(fs, f)
	}
}

// globRegexp compiles an EC2 filter value: * matches any run of
// characters, ? any one, and \ escapes the next character.
func globRegexp(v string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '\\':
			if i+1 < len(v) {
				i++
				b.WriteString(regexp.QuoteMeta(v[i : i+1]))
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(v[i : i+1]))
		}
	}
	b.WriteString("$")
	// Every piece is quoted or a fixed construct, so this always compiles.
	return regexp.MustCompile(b.String())
}

func (fs filterSet) match(inst Instance) bool {
	for _, f := range fs {
		if !f.match(inst) {
			return false
		}
	}
	return true
}

func (f filter) match(inst Instance) bool {
	var candidates []string
	switch {
	case strings.HasPrefix(f.name, "tag:"):
		v, ok := inst.Tags[strings.TrimPrefix(f.name, "tag:")]
		if !ok {
			return false
		}
		candidates = []string{v}
	case f.name == "tag-key":
		for k := range inst.Tags {
			candidates = append(candidates, k)
		}
	case f.name == "instance-state-name":
		candidates = []string{inst.State}
	case f.name == "instance-id":
		candidates = []string{inst.ID}
	}
	for _, c := range candidates {
		for _, re := range f.values {
			if re.MatchString(c) {
				return true
			}
		}
	}
	return false
}

// The response types follow EC2's XML element names, the ones the SDK's
// deserializer looks for.
type describeInstancesResponse struct {
	XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
	Xmlns        string           `xml:"xmlns,attr"`
	RequestID    string           `xml:"requestId"`
	Reservations []reservationXML `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        []groupXML    `xml:"groupSet>item"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type instanceXML struct {
	InstanceID     string          `xml:"instanceId"`
	ImageID        string          `xml:"imageId,omitempty"`
	State          stateXML        `xml:"instanceState"`
	PrivateDNSName string          `xml:"privateDnsName"`
	DNSName        string          `xml:"dnsName"`
	Reason         string          `xml:"reason"`
	KeyName        string          `xml:"keyName,omitempty"`
	InstanceType   string          `xml:"instanceType"`
	LaunchTime     string          `xml:"launchTime"`
	Placement      placementXML    `xml:"placement"`
	SubnetID       string          `xml:"subnetId,omitempty"`
	VpcID          string          `xml:"vpcId,omitempty"`
	PrivateIP      string          `xml:"privateIpAddress,omitempty"`
	PublicIP       string          `xml:"ipAddress,omitempty"`
	Groups         []groupXML      `xml:"groupSet>item"`
	StateReason    *stateReasonXML `xml:"stateReason,omitempty"`
	ClientToken    string          `xml:"clientToken,omitempty"`
	Tags           []tagXML        `xml:"tagSet>item"`
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

func stateOf(name string) stateXML { return stateXML{Code: stateCodes[name], Name: name} }

type stateReasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type groupXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type placementXML struct {
	AvailabilityZone string `xml:"availabilityZone"`
}

type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// testOwnerID is the account every reservation belongs to, as a fixed
// 12-digit account id.
const testOwnerID = "000000000000"

func reservationID(inst Instance) string {
	if inst.ReservationID != "" {
		return inst.ReservationID
	}
	return "r-" + strings.TrimPrefix(inst.ID, "i-")
}

func reservationOf(insts ...Instance) reservationXML {
	r := reservationXML{ReservationID: reservationID(insts[0]), OwnerID: testOwnerID}
	for _, inst := range insts {
		r.Instances = append(r.Instances, instanceXMLOf(inst))
	}
	return r
}

func groupsXML(groups []SecurityGroup) []groupXML {
	var out []groupXML
	for _, g := range groups {
		out = append(out, groupXML{GroupID: g.ID, GroupName: g.Name})
	}
	return out
}

func instanceXMLOf(inst Instance) instanceXML {
	x := instanceXML{
		InstanceID:     inst.ID,
		ImageID:        inst.ImageID,
		State:          stateOf(inst.State),
		PrivateDNSName: inst.PrivateDNS,
		DNSName:        inst.PublicDNS,
		Reason:         inst.StateTransitionReason,
		KeyName:        inst.KeyName,
		InstanceType:   inst.Type,
		LaunchTime:     inst.LaunchTime.UTC().Format("2006-01-02T15:04:05.000Z"),
		Placement:      placementXML{AvailabilityZone: inst.AvailabilityZone},
		SubnetID:       inst.SubnetID,
		VpcID:          inst.VpcID,
		PrivateIP:      inst.PrivateIP,
		PublicIP:       inst.PublicIP,
		Groups:         groupsXML(inst.SecurityGroups),
		ClientToken:    inst.ClientToken,
	}
	if inst.StateReason.Code != "" {
		x.StateReason = &stateReasonXML{Code: inst.StateReason.Code, Message: inst.StateReason.Message}
	}
	keys := make([]string, 0, len(inst.Tags))
	for k := range inst.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.Tags = append(x.Tags, tagXML{Key: k, Value: inst.Tags[k]})
	}
	return x
}
