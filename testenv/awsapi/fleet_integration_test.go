package awsapi

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/opsrun/opsrun/testenv"
)

// fleetSSH runs the OpenSSH client with the fleet's ssh_config, whose
// StrictHostKeyChecking=yes makes it fail unless the fleet's known_hosts
// holds the key the host presents at the port ssh_config names.
func fleetSSH(t *testing.T, f *testenv.Fleet, host string, command ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("OpenSSH client not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", append([]string{"-F", f.SSHConfigPath, host}, command...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// dockerState is Docker's state of a container, "gone" when it does not
// exist.
func dockerState(t *testing.T, container string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--type", "container", "--format", "{{.State.Status}}", container).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No such") {
			return "gone"
		}
		t.Fatalf("docker inspect %s: %v: %s", container, err, out)
	}
	return strings.TrimSpace(string(out))
}

func listedHost(f *testenv.Fleet, name string) (testenv.Host, bool) {
	i := slices.IndexFunc(f.Hosts, func(h testenv.Host) bool { return h.Name == name })
	if i < 0 {
		return testenv.Host{}, false
	}
	return f.Hosts[i], true
}

// runEndpoint runs RunFleetEndpoint for f, as `opsrun testenv up --aws`
// does, until the test ends, and points the process environment at it
// through its aws.env alone, the user's AWS configuration hidden.
func runEndpoint(t *testing.T, f *testenv.Fleet) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- RunFleetEndpoint(ctx, f.Dir, "127.0.0.1:0", log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-exited; err != nil {
			t.Errorf("endpoint: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := WaitForEndpoint(wctx, f.Dir, exited); err != nil {
		t.Fatal(err)
	}
	for _, kv := range isolationEnv(t.TempDir()) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for k, v := range readEnv(t, filepath.Join(f.Dir, EnvFile)) {
		t.Setenv(k, v)
	}
}

// TestFleetEndpointLiveInstances drives a fleet's instances through the
// SDK and the endpoint process's code, as opsrun's watcher does, and
// checks Docker, the fleet's files and SSH agree with what
// DescribeInstances says at each step.
func TestFleetEndpointLiveInstances(t *testing.T) {
	if testing.Short() && os.Getenv(testenv.RequireDockerEnv) != "1" {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "web", Count: 1}}, Init: testenv.InitSSHD})
	runEndpoint(t, fleet)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()

	// Launch like a replacement of web-1: its image, type, network and
	// tags, under another name; and, at the same time, a nameless
	// instance in another layer, so two launches rewrite the files at
	// once.
	web1 := describeOne(t, c, instanceID(fleet.Name, "web-1"))
	tags := []types.Tag{{Key: aws.String("Name"), Value: aws.String("web-2")}}
	for _, tg := range web1.Tags {
		if k := aws.ToString(tg.Key); k != "Name" {
			tags = append(tags, tg)
		}
	}
	like := func(tags []types.Tag) *ec2.RunInstancesInput {
		var groups []string
		for _, g := range web1.SecurityGroups {
			groups = append(groups, aws.ToString(g.GroupId))
		}
		return &ec2.RunInstancesInput{
			ImageId: web1.ImageId, InstanceType: web1.InstanceType, SubnetId: web1.SubnetId, SecurityGroupIds: groups, KeyName: web1.KeyName,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}},
		}
	}
	var (
		wg      sync.WaitGroup
		runs    [2]*ec2.RunInstancesOutput
		runErrs [2]error
	)
	for i, in := range []*ec2.RunInstancesInput{
		like(tags),
		like([]types.Tag{{Key: aws.String(TagLayer), Value: aws.String("app")}, {Key: aws.String(TagStack), Value: aws.String(fleet.Name)}}),
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i], runErrs[i] = c.RunInstances(ctx, in)
		}()
	}
	wg.Wait()
	for i, err := range runErrs {
		if err != nil {
			t.Fatalf("RunInstances %d: %v", i, err)
		}
	}
	web2ID, appID := aws.ToString(runs[0].Instances[0].InstanceId), aws.ToString(runs[1].Instances[0].InstanceId)
	waitFor(t, c, "running", web2ID)
	waitFor(t, c, "running", appID)

	if err := fleet.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ id, name, layer string }{{web2ID, "web-2", "web"}, {appID, appID, "app"}} {
		h, ok := listedHost(fleet, want.name)
		if !ok {
			t.Fatalf("fleet.json lacks %s: %+v", want.name, fleet.Hosts)
		}
		d := describeOne(t, c, want.id)
		if tagMap(d.Tags)[TagSSHPort] != strconv.Itoa(h.Port) || aws.ToString(d.PublicIpAddress) != "127.0.0.1" || aws.ToString(d.PrivateIpAddress) != h.InternalIP {
			t.Errorf("%s described at %s port %s (private %s); the files say %s:%d (%s)", want.name, aws.ToString(d.PublicIpAddress), tagMap(d.Tags)[TagSSHPort], aws.ToString(d.PrivateIpAddress), h.Address, h.Port, h.InternalIP)
		}
		if !slices.Equal(h.Layers, []string{want.layer}) || !strings.HasSuffix(h.Container, "-"+want.id) {
			t.Errorf("%s listed as %+v", want.name, h)
		}
		if out, err := fleetSSH(t, fleet, want.name, "hostname"); err != nil || out != want.name {
			t.Fatalf("ssh %s hostname = %q, %v", want.name, out, err)
		}
	}
	// The launched containers carry the fleet's label: `testenv down`,
	// and this test's cleanup, remove them.
	if cs, err := fleet.Containers(ctx); err != nil || len(cs) != 3 {
		t.Fatalf("fleet containers = %+v, %v", cs, err)
	}
	web2, _ := listedHost(fleet, "web-2")

	// Stop, then start: Docker agrees, and SSH answers at the new port
	// with the same host key.
	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{web2ID}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "stopped", web2ID)
	if st := dockerState(t, web2.Container); st != "exited" {
		t.Errorf("stopped instance's container is %s", st)
	}
	if d := describeOne(t, c, web2ID); d.StateReason == nil || aws.ToString(d.StateReason.Code) != reasonUserShutdown {
		t.Errorf("stopped instance's reason = %+v", d.StateReason)
	}
	if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{web2ID}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "running", web2ID)
	if err := fleet.Reload(); err != nil {
		t.Fatal(err)
	}
	web2, _ = listedHost(fleet, "web-2")
	if port := tagMap(describeOne(t, c, web2ID).Tags)[TagSSHPort]; port != strconv.Itoa(web2.Port) {
		t.Errorf("restarted instance's port tag %s, files say %d", port, web2.Port)
	}
	if st := dockerState(t, web2.Container); st != "running" {
		t.Errorf("started instance's container is %s", st)
	}
	if out, err := fleetSSH(t, fleet, "web-2", "hostname"); err != nil || out != "web-2" {
		t.Fatalf("ssh web-2 after restart = %q, %v", out, err)
	}

	// A container that dies is a stopped instance, with the reason.
	if err := fleet.Kill(ctx, appID); err != nil {
		t.Fatal(err)
	}
	d := describeOne(t, c, appID)
	if stateOfInstance(d) != "stopped" || d.StateReason == nil || aws.ToString(d.StateReason.Code) != reasonServerError || !strings.Contains(aws.ToString(d.StateReason.Message), "exited") {
		t.Errorf("killed instance described as %s, reason %+v", d.State.Name, d.StateReason)
	}

	// Terminate both: containers gone, files back to web-1 alone.
	app, _ := listedHost(fleet, appID)
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{web2ID, appID}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "terminated", web2ID)
	waitFor(t, c, "terminated", appID)
	for _, cn := range []string{web2.Container, app.Container} {
		if st := dockerState(t, cn); st != "gone" {
			t.Errorf("terminated instance's container %s is %s", cn, st)
		}
	}
	if err := fleet.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(fleet.Hosts) != 1 || fleet.Hosts[0].Name != "web-1" {
		t.Errorf("fleet.json hosts after terminate: %+v", fleet.Hosts)
	}
	for path, absent := range map[string]string{fleet.SSHConfigPath: "web-2", fleet.InventoryPath: "web-2", fleet.KnownHostsPath: "]:" + strconv.Itoa(web2.Port) + " "} {
		data, err := os.ReadFile(path)
		if err != nil || strings.Contains(string(data), absent) || strings.Contains(string(data), appID) {
			t.Errorf("%s still mentions a terminated host (%v):\n%s", path, err, data)
		}
	}
	if out, err := fleetSSH(t, fleet, "web-1", "hostname"); err != nil || out != "web-1" {
		t.Errorf("ssh web-1 after the others left = %q, %v", out, err)
	}
	// EC2 keeps terminated instances listed.
	ids, _ := describeAll(t, c, &ec2.DescribeInstancesInput{})
	if len(ids) != 3 {
		t.Errorf("described %v, want web-1 and the two terminated instances", ids)
	}
}
