package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The default VPC of the endpoint's account: where RunInstances puts an
// instance whose request names no subnet or security group, and where
// FleetInstances puts a fleet's hosts.
const (
	DefaultVpcID           = "vpc-0a11ce5000000000f"
	DefaultSubnetID        = "subnet-0a11ce5000000000f"
	DefaultSecurityGroupID = "sg-0a11ce5000000000f"
	// DefaultSecurityGroupName is the name of every VPC's default group.
	DefaultSecurityGroupName = "default"
)

// Limits of RunInstances, as EC2 has them.
const (
	// maxRunCount is how many instances one request may start, this
	// endpoint's stand-in for the account's instance quota.
	maxRunCount      = 20
	maxClientToken   = 64
	maxTagsPerSpec   = 50
	maxTagKeyLen     = 128
	maxTagValueLen   = 256
	defaultInstType  = "m1.small"
	reservedTagStart = "aws:"
)

// instanceTypeRE is the shape of an instance type: family.size.
var instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)

// runRecord is what one RunInstances ClientToken made.
type runRecord struct {
	fingerprint string // the request's other parameters
	ids         []string
}

// runRequest is a checked RunInstances request.
type runRequest struct {
	imageID, instanceType    string
	minCount, maxCount       int
	subnetID, keyName, token string
	groupIDs, groupNames     []string
	tags                     map[string]string
	fingerprint              string
}

// parseRunRequest reads and checks what can be checked without the
// server's state.
func parseRunRequest(form url.Values) (runRequest, *apiError) {
	r := runRequest{
		imageID:      form.Get("ImageId"),
		instanceType: form.Get("InstanceType"),
		subnetID:     form.Get("SubnetId"),
		keyName:      form.Get("KeyName"),
		token:        form.Get("ClientToken"),
		groupIDs:     indexedList(form, "SecurityGroupId."),
		groupNames:   indexedList(form, "SecurityGroup."),
		fingerprint:  fingerprint(form),
	}
	if r.imageID == "" {
		return r, missingParameter("ImageId")
	}
	if !validID(r.imageID, "ami-") {
		return r, &apiError{Code: "InvalidAMIID.Malformed", Message: fmt.Sprintf("Invalid id: %q (expecting \"ami-...\")", r.imageID)}
	}
	if r.instanceType == "" {
		r.instanceType = defaultInstType
	}
	if !instanceTypeRE.MatchString(r.instanceType) {
		return r, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Invalid value '%s' for InstanceType.", r.instanceType)}
	}
	var aerr *apiError
	if r.minCount, aerr = countParam(form, "MinCount"); aerr != nil {
		return r, aerr
	}
	if r.maxCount, aerr = countParam(form, "MaxCount"); aerr != nil {
		return r, aerr
	}
	if r.minCount > r.maxCount {
		return r, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Value (%d) for parameter minCount is invalid. Expected a value less than or equal to maxCount (%d).", r.minCount, r.maxCount)}
	}
	if r.minCount > maxRunCount {
		return r, &apiError{Code: "InstanceLimitExceeded", Message: fmt.Sprintf("Your quota allows for %d more running instance(s). You requested at least %d.", maxRunCount, r.minCount)}
	}
	if len(r.token) > maxClientToken {
		return r, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Value (%s) for parameter clientToken is invalid: it is longer than %d characters.", r.token, maxClientToken)}
	}
	if r.subnetID != "" && !validID(r.subnetID, "subnet-") {
		return r, &apiError{Code: "InvalidSubnetID.Malformed", Message: fmt.Sprintf("Invalid id: %q (expecting \"subnet-...\")", r.subnetID)}
	}
	for _, g := range r.groupIDs {
		if !validID(g, "sg-") {
			return r, &apiError{Code: "InvalidGroupId.Malformed", Message: fmt.Sprintf("Invalid id: %q (expecting \"sg-...\")", g)}
		}
	}
	r.tags, aerr = parseTagSpecifications(form)
	return r, aerr
}

// countParam reads MinCount or MaxCount: required, a positive integer.
func countParam(form url.Values, name string) (int, *apiError) {
	v := form.Get(name)
	if v == "" {
		return 0, missingParameter(name)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Value (%s) for parameter %s is invalid. Expected a positive integer.", v, strings.ToLower(name[:1])+name[1:])}
	}
	return n, nil
}

// parseTagSpecifications reads TagSpecification.N.ResourceType and
// TagSpecification.N.Tag.M.Key/Value, returning the instance's tags.
// Tags for the other resources RunInstances may make (volumes, network
// interfaces) are checked and dropped: this endpoint has none of those.
func parseTagSpecifications(form url.Values) (map[string]string, *apiError) {
	taggable := map[string]bool{"instance": true, "volume": true, "network-interface": true, "spot-instances-request": true, "elastic-gpu": true}
	var tags map[string]string
	seen := map[string]bool{}
	for i := 1; ; i++ {
		p := "TagSpecification." + strconv.Itoa(i) + "."
		rt, ok := form[p+"ResourceType"]
		if !ok {
			if _, orphan := form[p+"Tag.1.Key"]; orphan {
				return nil, missingParameter(p + "ResourceType")
			}
			return tags, nil
		}
		kind := rt[0]
		if !taggable[kind] {
			return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("'%s' is not a valid taggable resource type for this operation.", kind)}
		}
		if seen[kind] {
			return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The same resource type may not be specified more than once in tag specifications (%s).", kind)}
		}
		seen[kind] = true
		spec := map[string]string{}
		for j := 1; ; j++ {
			tp := p + "Tag." + strconv.Itoa(j) + "."
			key, ok := form[tp+"Key"]
			if !ok {
				break
			}
			k, v := key[0], form.Get(tp+"Value")
			switch {
			case k == "":
				return nil, &apiError{Code: "InvalidParameterValue", Message: "Tag keys must not be empty."}
			case strings.HasPrefix(strings.ToLower(k), reservedTagStart):
				return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Tag key '%s' is invalid: tag keys starting with 'aws:' are reserved for internal use.", k)}
			case len(k) > maxTagKeyLen || len(v) > maxTagValueLen:
				return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Tag %q is too long: keys take at most %d characters, values %d.", k, maxTagKeyLen, maxTagValueLen)}
			}
			if _, dup := spec[k]; dup {
				return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Duplicate tag key '%s' specified.", k)}
			}
			spec[k] = v
		}
		if len(spec) > maxTagsPerSpec {
			return nil, &apiError{Code: "TagLimitExceeded", Message: fmt.Sprintf("The maximum number of tags for a resource is %d; %d were given.", maxTagsPerSpec, len(spec))}
		}
		if kind == "instance" {
			tags = spec
		}
	}
}

// fingerprint is the request's parameters but its token, in a stable
// order: what must match for a repeated ClientToken to be the same
// request.
func fingerprint(form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		if k != "Action" && k != "Version" && k != "ClientToken" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, form[k])
	}
	return b.String()
}

// validID reports whether id is prefix followed by something.
func validID(id, prefix string) bool {
	return strings.HasPrefix(id, prefix) && len(id) > len(prefix)
}

// subnetInfo is what the server knows of a subnet: from the instances it
// has, plus the default one.
type subnetInfo struct{ vpcID, zone string }

// subnets lists the known subnets (s.mu held).
func (s *Server) subnets() map[string]subnetInfo {
	out := map[string]subnetInfo{}
	for _, inst := range s.instances {
		if _, ok := out[inst.SubnetID]; inst.SubnetID != "" && !ok {
			out[inst.SubnetID] = subnetInfo{vpcID: inst.VpcID, zone: inst.AvailabilityZone}
		}
	}
	if _, ok := out[DefaultSubnetID]; !ok {
		out[DefaultSubnetID] = subnetInfo{vpcID: DefaultVpcID, zone: DefaultRegion + "a"}
	}
	return out
}

// securityGroups resolves a request's groups, by id then by name, among
// the known ones (s.mu held); none asked for means the default group.
func (s *Server) securityGroups(ids, names []string, vpcID string) ([]SecurityGroup, *apiError) {
	known := map[string]string{DefaultSecurityGroupID: DefaultSecurityGroupName}
	for _, inst := range s.instances {
		for _, g := range inst.SecurityGroups {
			known[g.ID] = g.Name
		}
	}
	if len(ids) == 0 && len(names) == 0 {
		return []SecurityGroup{{ID: DefaultSecurityGroupID, Name: DefaultSecurityGroupName}}, nil
	}
	var out []SecurityGroup
	for _, id := range ids {
		name, ok := known[id]
		if !ok {
			return nil, &apiError{Code: "InvalidGroup.NotFound", Message: fmt.Sprintf("The security group '%s' does not exist in VPC '%s'", id, vpcID)}
		}
		out = append(out, SecurityGroup{ID: id, Name: name})
	}
	for _, name := range names {
		found := false
		for id, n := range known {
			if n == name {
				out = append(out, SecurityGroup{ID: id, Name: n})
				found = true
				break
			}
		}
		if !found {
			return nil, &apiError{Code: "InvalidGroup.NotFound", Message: fmt.Sprintf("The security group '%s' does not exist in VPC '%s'", name, vpcID)}
		}
	}
	return out, nil
}

// knownKeyPair reports whether some instance uses the key pair name.
func (s *Server) knownKeyPair(name string) bool {
	for _, inst := range s.instances {
		if inst.KeyName == name {
			return true
		}
	}
	return false
}

// nextPrivateIP hands out a private IP no instance has (s.mu held); a
// backend may replace it with its machine's.
func (s *Server) nextPrivateIP() string {
	used := map[string]bool{}
	for _, inst := range s.instances {
		used[inst.PrivateIP] = true
	}
	for {
		n := s.life.ipSeq
		s.life.ipSeq++
		ip := fmt.Sprintf("10.0.%d.%d", 1+n/250%250, 4+n%250)
		if !used[ip] {
			return ip
		}
	}
}

// runInstancesResponse is a reservation at the top level, as EC2 answers
// RunInstances.
type runInstancesResponse struct {
	XMLName   xml.Name `xml:"RunInstancesResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	RequestID string   `xml:"requestId"`
	reservationXML
}

// runInstances implements RunInstances: ImageId, InstanceType, MinCount,
// MaxCount, SubnetId, SecurityGroupId.N (or SecurityGroup.N by name),
// KeyName, TagSpecification.N and ClientToken. It makes MaxCount
// instances (at most maxRunCount) in one reservation, pending, and
// launches them (see begin). A request repeating a ClientToken answers
// with the instances the first one made, as they are now.
func (s *Server) runInstances(_ context.Context, form url.Values, reqID string) (any, *apiError) {
	req, aerr := parseRunRequest(form)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLifecycle()
	l := &s.life
	if l.closed {
		return nil, errShuttingDown()
	}
	if rec, ok := l.tokens[req.token]; ok && req.token != "" {
		if rec.fingerprint != req.fingerprint {
			return nil, &apiError{Code: "IdempotentParameterMismatch", Message: fmt.Sprintf("The client token '%s' was already used by a RunInstances request with other parameters.", req.token)}
		}
		var insts []Instance
		for _, id := range rec.ids {
			insts = append(insts, cloneInstance(*s.find(id)))
		}
		return runResponse(reqID, insts), nil
	}
	subnetID := req.subnetID
	if subnetID == "" {
		subnetID = DefaultSubnetID
	}
	subnet, ok := s.subnets()[subnetID]
	if !ok {
		return nil, &apiError{Code: "InvalidSubnetID.NotFound", Message: fmt.Sprintf("The subnet ID '%s' does not exist", subnetID)}
	}
	groups, aerr := s.securityGroups(req.groupIDs, req.groupNames, subnet.vpcID)
	if aerr != nil {
		return nil, aerr
	}
	if req.keyName != "" && !s.knownKeyPair(req.keyName) {
		return nil, &apiError{Code: "InvalidKeyPair.NotFound", Message: fmt.Sprintf("The key pair '%s' does not exist", req.keyName)}
	}
	if aerr := dryRun(form); aerr != nil {
		return nil, aerr
	}
	region := strings.TrimRight(subnet.zone, "abcdefghijklmnopqrstuvwxyz")
	reservation := "r-" + randomHex(17)
	launched := time.Now().UTC().Truncate(time.Millisecond)
	var made []Instance
	for range min(req.maxCount, maxRunCount) {
		ip := s.nextPrivateIP()
		inst := Instance{
			ID:               "i-" + randomHex(17),
			ImageID:          req.imageID,
			State:            statePending,
			Type:             req.instanceType,
			AvailabilityZone: subnet.zone,
			PrivateIP:        ip,
			PrivateDNS:       privateDNS(ip, region),
			Tags:             req.tags,
			LaunchTime:       launched,
			SubnetID:         subnetID,
			VpcID:            subnet.vpcID,
			KeyName:          req.keyName,
			SecurityGroups:   groups,
			ReservationID:    reservation,
			ClientToken:      req.token,
		}
		inst = cloneInstance(inst) // its own tags and groups
		s.instances = append(s.instances, inst)
		l.index[inst.ID] = len(s.instances) - 1
		made = append(made, inst)
		s.launch(inst.ID)
	}
	if req.token != "" {
		rec := runRecord{fingerprint: req.fingerprint}
		for _, inst := range made {
			rec.ids = append(rec.ids, inst.ID)
		}
		l.tokens[req.token] = rec
	}
	return runResponse(reqID, made), nil
}

func runResponse(reqID string, insts []Instance) runInstancesResponse {
	r := reservationOf(insts...)
	r.Groups = groupsXML(insts[0].SecurityGroups)
	return runInstancesResponse{Xmlns: ec2Namespace, RequestID: reqID, reservationXML: r}
}

// randomHex is n random hex digits, the body of an EC2 resource id.
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
