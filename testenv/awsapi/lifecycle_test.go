package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Network of the instances vpcFleet returns.
const (
	testSubnet = "subnet-0123456789abcdef0"
	testVpc    = "vpc-0123456789abcdef0"
	testGroup  = "sg-0123456789abcdef0"
	testKey    = "deploy"
	testAMI    = "ami-0123456789abcdef0"
)

// vpcFleet is fleetOf(n) in a subnet of its own, with a security group
// and key pair RunInstances can name.
func vpcFleet(n int) []Instance {
	insts := fleetOf(n)
	for i := range insts {
		insts[i].ImageID = testAMI
		insts[i].SubnetID, insts[i].VpcID, insts[i].KeyName = testSubnet, testVpc, testKey
		insts[i].SecurityGroups = []SecurityGroup{{ID: testGroup, Name: "web"}}
	}
	return insts
}

// runInput is a RunInstances request like the one opsrun's watcher makes
// to replace web-0: the same image, type, network and tags.
func runInput() *ec2.RunInstancesInput {
	return &ec2.RunInstancesInput{
		ImageId:          aws.String(testAMI),
		InstanceType:     types.InstanceTypeT3Micro,
		MinCount:         aws.Int32(1),
		MaxCount:         aws.Int32(1),
		SubnetId:         aws.String(testSubnet),
		SecurityGroupIds: []string{testGroup},
		KeyName:          aws.String(testKey),
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{
				{Key: aws.String("Name"), Value: aws.String("web-0")},
				{Key: aws.String(TagLayer), Value: aws.String("web")},
				{Key: aws.String("stack"), Value: aws.String("prod")},
			}},
			{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("backup"), Value: aws.String("daily")}}},
		},
	}
}

func tagMap(tags []types.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// describeOne returns the instance with id, through the SDK.
func describeOne(t *testing.T, c *ec2.Client, id string) types.Instance {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatalf("DescribeInstances %s: %v", id, err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances %s: %+v", id, out.Reservations)
	}
	return out.Reservations[0].Instances[0]
}

func stateOfInstance(inst types.Instance) string { return string(inst.State.Name) }

// change is one StateChange as "id: previous -> current".
func changes(sc []types.InstanceStateChange) []string {
	var out []string
	for _, c := range sc {
		out = append(out, fmt.Sprintf("%s: %s -> %s", aws.ToString(c.InstanceId), c.PreviousState.Name, c.CurrentState.Name))
	}
	return out
}

func TestRunInstancesCopiesTagsAndNetwork(t *testing.T) {
	c := client(t, New(vpcFleet(1)))
	ctx := context.Background()
	in := runInput()
	in.MinCount, in.MaxCount = aws.Int32(1), aws.Int32(2)
	out, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Instances) != 2 || !strings.HasPrefix(aws.ToString(out.ReservationId), "r-") || aws.ToString(out.OwnerId) != testOwnerID {
		t.Fatalf("reservation %s owner %s with %d instances", aws.ToString(out.ReservationId), aws.ToString(out.OwnerId), len(out.Instances))
	}
	if len(out.Groups) != 1 || aws.ToString(out.Groups[0].GroupId) != testGroup || aws.ToString(out.Groups[0].GroupName) != "web" {
		t.Errorf("reservation groups = %+v", out.Groups)
	}
	ips := map[string]bool{}
	for _, got := range out.Instances {
		id := aws.ToString(got.InstanceId)
		if stateOfInstance(got) != "pending" || aws.ToInt32(got.State.Code) != 0 {
			t.Errorf("%s answered %s (%d), want pending (0)", id, got.State.Name, aws.ToInt32(got.State.Code))
		}
		if !strings.HasPrefix(id, "i-") || len(id) != 19 {
			t.Errorf("instance id %q is not i- and 17 hex digits", id)
		}
		// Describe decodes what RunInstances recorded.
		d := describeOne(t, c, id)
		checks := map[string][2]string{
			"state":       {stateOfInstance(d), "running"},
			"image":       {aws.ToString(d.ImageId), testAMI},
			"type":        {string(d.InstanceType), "t3.micro"},
			"subnet":      {aws.ToString(d.SubnetId), testSubnet},
			"vpc":         {aws.ToString(d.VpcId), testVpc},
			"key":         {aws.ToString(d.KeyName), testKey},
			"az":          {aws.ToString(d.Placement.AvailabilityZone), "eu-west-1b"},
			"token":       {aws.ToString(d.ClientToken), aws.ToString(got.ClientToken)},
			"groups":      {fmt.Sprint(len(d.SecurityGroups)), "1"},
			"reservation": {aws.ToString(describeReservation(t, c, id)), aws.ToString(out.ReservationId)},
		}
		for what, v := range checks {
			if v[0] != v[1] {
				t.Errorf("%s: %s = %q, want %q", id, what, v[0], v[1])
			}
		}
		if len(d.SecurityGroups) == 1 && (aws.ToString(d.SecurityGroups[0].GroupId) != testGroup || aws.ToString(d.SecurityGroups[0].GroupName) != "web") {
			t.Errorf("%s: groups = %+v", id, d.SecurityGroups)
		}
		if tags := tagMap(d.Tags); len(tags) != 3 || tags["Name"] != "web-0" || tags[TagLayer] != "web" || tags["stack"] != "prod" {
			t.Errorf("%s: tags = %v, want the instance tag specification's (and not the volume's)", id, tags)
		}
		if d.StateReason != nil {
			t.Errorf("%s: a running instance has state reason %+v", id, d.StateReason)
		}
		ip := aws.ToString(d.PrivateIpAddress)
		if ip == "" || ip == "10.0.0.10" || ips[ip] {
			t.Errorf("%s: private IP %q is not a fresh one", id, ip)
		}
		ips[ip] = true
	}
	if aws.ToString(out.Instances[0].ClientToken) == "" {
		t.Error("the SDK's automatic client token was not recorded")
	}
}

func describeReservation(t *testing.T, c *ec2.Client, id string) *string {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) != 1 {
		t.Fatalf("DescribeInstances %s: %v", id, err)
	}
	return out.Reservations[0].ReservationId
}

func TestRunInstancesDefaults(t *testing.T) {
	srv := New(nil)
	c := client(t, srv)
	out, err := c.RunInstances(context.Background(), &ec2.RunInstancesInput{ImageId: aws.String(testAMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	got := out.Instances[0]
	if aws.ToString(got.SubnetId) != DefaultSubnetID || aws.ToString(got.VpcId) != DefaultVpcID || string(got.InstanceType) != defaultInstType ||
		len(got.SecurityGroups) != 1 || aws.ToString(got.SecurityGroups[0].GroupId) != DefaultSecurityGroupID || len(got.Tags) != 0 {
		t.Errorf("defaults: %+v", got)
	}
	if insts := srv.Instances(); len(insts) != 1 || insts[0].State != "running" {
		t.Errorf("Instances() = %+v", insts)
	}
}

func TestRunInstancesClientTokenIsIdempotent(t *testing.T) {
	srv := New(vpcFleet(1))
	c := client(t, srv)
	ctx := context.Background()
	in := runInput()
	in.ClientToken = aws.String("replace-web-0")
	first, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(first.Instances[0].InstanceId)
	if len(again.Instances) != 1 || aws.ToString(again.Instances[0].InstanceId) != id || aws.ToString(again.ReservationId) != aws.ToString(first.ReservationId) {
		t.Errorf("repeated token made %s in %s, first %s in %s", aws.ToString(again.Instances[0].InstanceId), aws.ToString(again.ReservationId), id, aws.ToString(first.ReservationId))
	}
	if n := len(srv.Instances()); n != 2 {
		t.Errorf("%d instances after a repeated token, want 2", n)
	}
	// The same token for another request is refused.
	in.ImageId = aws.String("ami-0fedcba9876543210")
	if _, err := c.RunInstances(ctx, in); err == nil || apiCode(t, err) != "IdempotentParameterMismatch" {
		t.Errorf("reused token with other parameters: %v", err)
	}
	// Without one, the SDK makes a fresh token each call: a new instance.
	if _, err := c.RunInstances(ctx, runInput()); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Instances()); n != 3 {
		t.Errorf("%d instances, want 3", n)
	}
}

func TestRunInstancesErrors(t *testing.T) {
	c := client(t, New(vpcFleet(1)))
	cases := []struct {
		name string
		edit func(*ec2.RunInstancesInput)
		code string
		msg  string
	}{
		{"missing image", func(in *ec2.RunInstancesInput) { in.ImageId = nil }, "MissingParameter", "ImageId"},
		{"malformed image", func(in *ec2.RunInstancesInput) { in.ImageId = aws.String("debian") }, "InvalidAMIID.Malformed", "debian"},
		{"bad type", func(in *ec2.RunInstancesInput) { in.InstanceType = "huge" }, "InvalidParameterValue", "InstanceType"},
		{"min over max", func(in *ec2.RunInstancesInput) { in.MinCount = aws.Int32(3) }, "InvalidParameterValue", "minCount"},
		{"zero count", func(in *ec2.RunInstancesInput) { in.MinCount, in.MaxCount = aws.Int32(0), aws.Int32(0) }, "InvalidParameterValue", "minCount"},
		{"too many", func(in *ec2.RunInstancesInput) { in.MinCount, in.MaxCount = aws.Int32(21), aws.Int32(21) }, "InstanceLimitExceeded", "21"},
		{"unknown subnet", func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String("subnet-0ffffffffffffffff") }, "InvalidSubnetID.NotFound", "subnet-0ffffffffffffffff"},
		{"unknown group", func(in *ec2.RunInstancesInput) { in.SecurityGroupIds = []string{"sg-0ffffffffffffffff"} }, "InvalidGroup.NotFound", "sg-0ffffffffffffffff"},
		{"unknown group name", func(in *ec2.RunInstancesInput) { in.SecurityGroupIds, in.SecurityGroups = nil, []string{"db"} }, "InvalidGroup.NotFound", "'db'"},
		{"unknown key", func(in *ec2.RunInstancesInput) { in.KeyName = aws.String("nobody") }, "InvalidKeyPair.NotFound", "nobody"},
		{"reserved tag", func(in *ec2.RunInstancesInput) {
			in.TagSpecifications[0].Tags = append(in.TagSpecifications[0].Tags, types.Tag{Key: aws.String("aws:owner"), Value: aws.String("x")})
		}, "InvalidParameterValue", "aws:"},
		{"duplicate tag", func(in *ec2.RunInstancesInput) {
			in.TagSpecifications[0].Tags = append(in.TagSpecifications[0].Tags, types.Tag{Key: aws.String("Name"), Value: aws.String("x")})
		}, "InvalidParameterValue", "Name"},
		{"untaggable resource", func(in *ec2.RunInstancesInput) { in.TagSpecifications[1].ResourceType = types.ResourceTypeVpc }, "InvalidParameterValue", "vpc"},
		{"dry run", func(in *ec2.RunInstancesInput) { in.DryRun = aws.Bool(true) }, "DryRunOperation", "DryRun"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := runInput()
			tc.edit(in)
			_, err := c.RunInstances(context.Background(), in)
			if err == nil {
				t.Fatal("no error")
			}
			if got := apiCode(t, err); got != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v; want code %s mentioning %q", err, tc.code, tc.msg)
			}
		})
	}
	// Nothing was launched by any of them.
	ids, _ := describeAll(t, c, &ec2.DescribeInstancesInput{})
	if len(ids) != 1 {
		t.Errorf("instances after failed runs: %v", ids)
	}
}

// TestRunInstancesRawForm covers what the SDK checks on its side before
// sending, for clients that do not: the counts are required.
func TestRunInstancesRawForm(t *testing.T) {
	ts := httptest.NewServer(New(nil))
	defer ts.Close()
	resp, err := http.PostForm(ts.URL, url.Values{"Action": {"RunInstances"}, "Version": {EC2Version}, "ImageId": {testAMI}, "MaxCount": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "<Code>MissingParameter</Code>") || !strings.Contains(string(b), "MinCount") {
		t.Errorf("status %d body %s", resp.StatusCode, b)
	}
}

// act calls StopInstances, StartInstances or TerminateInstances for ids
// and returns the state changes as "id: previous -> current".
func act(c *ec2.Client, action string, ids ...string) ([]string, error) {
	ctx := context.Background()
	var sc []types.InstanceStateChange
	switch action {
	case "stop":
		out, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
		if err != nil {
			return nil, err
		}
		sc = out.StoppingInstances
	case "start":
		out, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids})
		if err != nil {
			return nil, err
		}
		sc = out.StartingInstances
	case "terminate":
		out, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
		if err != nil {
			return nil, err
		}
		sc = out.TerminatingInstances
	}
	return changes(sc), nil
}

func TestStateTransitionsWithoutBackend(t *testing.T) {
	c := client(t, New(vpcFleet(3)))
	id := "i-00000000000000001"
	steps := []struct {
		action  string
		answer  string // the state change
		settled string // what Describe says next
	}{
		{"stop", "running -> stopping", "stopped"},
		{"stop", "stopped -> stopped", "stopped"},
		{"start", "stopped -> pending", "running"},
		{"start", "running -> running", "running"},
		{"terminate", "running -> shutting-down", "terminated"},
		{"terminate", "terminated -> terminated", "terminated"},
	}
	for i, st := range steps {
		got, err := act(c, st.action, id)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !slices.Equal(got, []string{id + ": " + st.answer}) {
			t.Fatalf("step %d answered %v, want %s", i, got, st.answer)
		}
		d := describeOne(t, c, id)
		if stateOfInstance(d) != st.settled {
			t.Fatalf("step %d: Describe says %s, want %s", i, d.State.Name, st.settled)
		}
		switch st.settled {
		case "stopped", "terminated":
			if d.StateReason == nil || aws.ToString(d.StateReason.Code) != reasonUserShutdown || !strings.HasPrefix(aws.ToString(d.StateTransitionReason), "User initiated (") {
				t.Errorf("step %d: %s with reason %+v / %q", i, st.settled, d.StateReason, aws.ToString(d.StateTransitionReason))
			}
		case "running":
			if d.StateReason != nil || aws.ToString(d.StateTransitionReason) != "" {
				t.Errorf("step %d: running with reason %+v / %q", i, d.StateReason, aws.ToString(d.StateTransitionReason))
			}
		}
	}
	// A terminated instance stays listed, and can be neither started nor
	// stopped.
	ids, _ := describeAll(t, c, &ec2.DescribeInstancesInput{})
	if !slices.Contains(ids, id) {
		t.Errorf("terminated %s not listed: %v", id, ids)
	}
	if _, err := act(c, "start", id); err == nil || apiCode(t, err) != "IncorrectInstanceState" || !strings.Contains(err.Error(), id) {
		t.Errorf("start a terminated instance: %v", err)
	}
	if _, err := act(c, "stop", id); err == nil || apiCode(t, err) != "IncorrectInstanceState" {
		t.Errorf("stop a terminated instance: %v", err)
	}
}

func TestStateChangeErrorsChangeNothing(t *testing.T) {
	srv := New(vpcFleet(3))
	c := client(t, srv)
	ctx := context.Background()
	// i-...3 is stopped (fleetOf): starting it with an unknown id fails
	// as a whole.
	_, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{"i-00000000000000003", "i-0ffffffffffffffff"}})
	if err == nil || apiCode(t, err) != "InvalidInstanceID.NotFound" || !strings.Contains(err.Error(), "i-0ffffffffffffffff") {
		t.Fatalf("unknown id: %v", err)
	}
	_, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{"web-0"}})
	if err == nil || apiCode(t, err) != "InvalidInstanceID.Malformed" {
		t.Errorf("malformed id: %v", err)
	}
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-00000000000000001"}, DryRun: aws.Bool(true)})
	if err == nil || apiCode(t, err) != "DryRunOperation" {
		t.Errorf("dry run: %v", err)
	}
	for i, inst := range srv.Instances() {
		if want := vpcFleet(3)[i].State; inst.State != want {
			t.Errorf("%s is %s after failed requests, want %s", inst.ID, inst.State, want)
		}
	}
}

// fakeBackend is a Backend whose machines are entries in a map, with a
// gate that holds Launch and Start until the test opens it, so tests see
// the transitional states.
type fakeBackend struct {
	mu        sync.Mutex
	gate      chan struct{}
	launchErr error
	calls     []string
	machines  map[string]Observation
	port      int
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{gate: make(chan struct{}), machines: map[string]Observation{}, port: 40000}
}

func (b *fakeBackend) record(call, id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, call+" "+id)
}

func (b *fakeBackend) callList() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.calls...)
}

func (b *fakeBackend) setMachine(id string, o Observation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.machines[id] = o
}

// run waits for the gate, then gives the machine a new port.
func (b *fakeBackend) run(ctx context.Context, inst Instance) (Instance, error) {
	select {
	case <-b.gate:
	case <-ctx.Done():
		return inst, ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.port++
	inst.PublicIP = "127.0.0.1"
	inst.Tags[TagSSHPort] = strconv.Itoa(b.port)
	b.machines[inst.ID] = Observation{State: "running"}
	return inst, nil
}

func (b *fakeBackend) Launch(ctx context.Context, inst Instance) (Instance, error) {
	b.record("launch", inst.ID)
	if b.launchErr != nil {
		return inst, b.launchErr
	}
	return b.run(ctx, inst)
}

func (b *fakeBackend) Start(ctx context.Context, inst Instance) (Instance, error) {
	b.record("start", inst.ID)
	return b.run(ctx, inst)
}

func (b *fakeBackend) Stop(_ context.Context, inst Instance) error {
	b.record("stop", inst.ID)
	b.setMachine(inst.ID, Observation{State: "stopped"})
	return nil
}

func (b *fakeBackend) Terminate(_ context.Context, inst Instance) error {
	b.record("terminate", inst.ID)
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.machines, inst.ID)
	return nil
}

func (b *fakeBackend) Observe(_ context.Context, insts []Instance) (map[string]Observation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]Observation{}
	for _, inst := range insts {
		if o, ok := b.machines[inst.ID]; ok {
			out[inst.ID] = o
		}
	}
	return out, nil
}

// backendClient serves a server with backend b (closed at the end).
func backendClient(t *testing.T, b Backend) (*Server, *ec2.Client) {
	t.Helper()
	srv := NewWithBackend(vpcFleet(1), b, nil)
	t.Cleanup(srv.Close)
	return srv, client(t, srv)
}

// waitFor polls with the SDK's own waiter, as a client would.
func waitFor(t *testing.T, c *ec2.Client, state string, id string) {
	t.Helper()
	in := &ec2.DescribeInstancesInput{InstanceIds: []string{id}}
	fast := func(min, max *time.Duration) { *min, *max = 10*time.Millisecond, 50*time.Millisecond }
	var err error
	switch state {
	case "running":
		err = ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).Wait(context.Background(), in, time.Minute)
	case "stopped":
		err = ec2.NewInstanceStoppedWaiter(c, func(o *ec2.InstanceStoppedWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).Wait(context.Background(), in, time.Minute)
	case "terminated":
		err = ec2.NewInstanceTerminatedWaiter(c, func(o *ec2.InstanceTerminatedWaiterOptions) { fast(&o.MinDelay, &o.MaxDelay) }).Wait(context.Background(), in, time.Minute)
	}
	if err != nil {
		t.Fatalf("wait for %s to be %s: %v (it is %s)", id, state, err, describeOne(t, c, id).State.Name)
	}
}

// runOne launches an instance with runInput and returns its id.
func runOne(t *testing.T, c *ec2.Client) string {
	t.Helper()
	out, err := c.RunInstances(context.Background(), runInput())
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Instances[0].InstanceId)
}

func TestBackendRunsTheTransitions(t *testing.T) {
	b := newFakeBackend()
	_, c := backendClient(t, b)
	id := runOne(t, c)
	// The launch is held: the instance stays pending, and is not
	// observed (its machine's state is the launch's business).
	if got := describeOne(t, c, id); stateOfInstance(got) != "pending" {
		t.Fatalf("held launch: %s", got.State.Name)
	}
	close(b.gate)
	waitFor(t, c, "running", id)
	got := describeOne(t, c, id)
	if aws.ToString(got.PublicIpAddress) != "127.0.0.1" || tagMap(got.Tags)[TagSSHPort] != "40001" || tagMap(got.Tags)["Name"] != "web-0" {
		t.Errorf("launched instance = %s port tag %s, tags %v", aws.ToString(got.PublicIpAddress), tagMap(got.Tags)[TagSSHPort], tagMap(got.Tags))
	}

	if got, err := act(c, "stop", id); err != nil || !slices.Equal(got, []string{id + ": running -> stopping"}) {
		t.Fatalf("stop: %v %v", got, err)
	}
	waitFor(t, c, "stopped", id)
	if got, err := act(c, "start", id); err != nil || !slices.Equal(got, []string{id + ": stopped -> pending"}) {
		t.Fatalf("start: %v %v", got, err)
	}
	waitFor(t, c, "running", id)
	if port := tagMap(describeOne(t, c, id).Tags)[TagSSHPort]; port != "40002" {
		t.Errorf("port tag after restart = %s, want the backend's new 40002", port)
	}

	// The machine dies behind the API's back: Describe tells.
	b.setMachine(id, Observation{State: "stopped", Reason: "container c1 is exited (Exited (137))"})
	got = describeOne(t, c, id)
	if stateOfInstance(got) != "stopped" || got.StateReason == nil || aws.ToString(got.StateReason.Code) != reasonServerError ||
		!strings.Contains(aws.ToString(got.StateReason.Message), "Exited (137)") || !strings.HasPrefix(aws.ToString(got.StateTransitionReason), "Server initiated (") {
		t.Fatalf("dead machine described as %s, reason %+v, %q", got.State.Name, got.StateReason, aws.ToString(got.StateTransitionReason))
	}
	// A restart (stop, start) brings it back, as the watcher does it.
	if got, err := act(c, "stop", id); err != nil || !slices.Equal(got, []string{id + ": stopped -> stopped"}) {
		t.Fatalf("stop a dead instance: %v %v", got, err)
	}
	if _, err := act(c, "start", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "running", id)

	if got, err := act(c, "terminate", id); err != nil || !slices.Equal(got, []string{id + ": running -> shutting-down"}) {
		t.Fatalf("terminate: %v %v", got, err)
	}
	waitFor(t, c, "terminated", id)
	want := []string{"launch " + id, "stop " + id, "start " + id, "start " + id, "terminate " + id}
	if got := b.callList(); !slices.Equal(got, want) {
		t.Errorf("backend calls = %v, want %v", got, want)
	}
}

func TestBackendMachineGoneIsTerminated(t *testing.T) {
	b := newFakeBackend()
	close(b.gate)
	_, c := backendClient(t, b)
	id := "i-00000000000000001" // a machine the backend does not know: left as recorded
	if got := describeOne(t, c, id); stateOfInstance(got) != "running" {
		t.Fatalf("unobserved instance is %s", got.State.Name)
	}
	b.setMachine(id, Observation{State: "terminated", Reason: "its container no longer exists"})
	got := describeOne(t, c, id)
	if stateOfInstance(got) != "terminated" || got.StateReason == nil || !strings.Contains(aws.ToString(got.StateReason.Message), "no longer exists") {
		t.Errorf("vanished machine described as %s, %+v", got.State.Name, got.StateReason)
	}
}

func TestBackendLaunchFailureTerminates(t *testing.T) {
	b := newFakeBackend()
	b.launchErr = errors.New("no room on the fleet network")
	_, c := backendClient(t, b)
	id := runOne(t, c)
	waitFor(t, c, "terminated", id)
	got := describeOne(t, c, id)
	if got.StateReason == nil || aws.ToString(got.StateReason.Code) != reasonServerError || !strings.Contains(aws.ToString(got.StateReason.Message), "no room on the fleet network") {
		t.Errorf("failed launch: reason %+v", got.StateReason)
	}
}

func TestBackendTerminateWhilePendingWaitsForLaunch(t *testing.T) {
	b := newFakeBackend()
	_, c := backendClient(t, b)
	id := runOne(t, c)
	if got, err := act(c, "terminate", id); err != nil || !slices.Equal(got, []string{id + ": pending -> shutting-down"}) {
		t.Fatalf("terminate a pending instance: %v %v", got, err)
	}
	// Stopping it now is refused: it is on its way out.
	if _, err := act(c, "stop", id); err == nil || apiCode(t, err) != "IncorrectInstanceState" {
		t.Errorf("stop a shutting-down instance: %v", err)
	}
	close(b.gate)
	waitFor(t, c, "terminated", id)
	if got := b.callList(); !slices.Equal(got, []string{"launch " + id, "terminate " + id}) {
		t.Errorf("backend calls = %v: the terminate must follow the launch", got)
	}
}

func TestCloseCancelsWorkInFlight(t *testing.T) {
	b := newFakeBackend() // the gate stays shut: only cancellation ends the launch
	srv := NewWithBackend(vpcFleet(1), b, nil)
	c := client(t, srv)
	id := runOne(t, c)
	srv.Close()
	var got Instance
	for _, inst := range srv.Instances() {
		if inst.ID == id {
			got = inst
		}
	}
	if got.State != "terminated" || !strings.Contains(got.StateReason.Message, context.Canceled.Error()) {
		t.Errorf("cancelled launch left %s (%+v)", got.State, got.StateReason)
	}
	if _, err := c.RunInstances(context.Background(), runInput()); err == nil || apiCode(t, err) != "Unavailable" {
		t.Errorf("RunInstances on a closed server: %v", err)
	}
}
