package watch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/opsrun/opsrun/inventory/awsconfig"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// cloudOn is EC2Cloud with the real SDK client against the local endpoint
// (instances change state in memory), polling fast.
func cloudOn(t *testing.T, insts []awsapi.Instance) (*EC2Cloud, *awsapi.Server) {
	t.Helper()
	srv := awsapi.New(insts)
	awsapi.Serve(t, srv)
	cfg, err := awsconfig.Load(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return &EC2Cloud{Clients: []EC2API{ec2.NewFromConfig(cfg)}, Poll: 100 * time.Millisecond, Wait: 30 * time.Second}, srv
}

func webInstance(id, state string) awsapi.Instance {
	return awsapi.Instance{
		ID: id, ImageID: "ami-0123456789abcdef0", State: state, Type: "t3.small",
		AvailabilityZone: "us-east-1a", PrivateIP: "10.0.0.5",
		SubnetID: awsapi.DefaultSubnetID, VpcID: awsapi.DefaultVpcID, KeyName: "ops",
		SecurityGroups: []awsapi.SecurityGroup{{ID: awsapi.DefaultSecurityGroupID, Name: awsapi.DefaultSecurityGroupName}},
		Tags:           map[string]string{"Name": "web-1", "opsrun:layer": "web", "aws:cloudformation:stack-name": "prod"},
	}
}

func find(srv *awsapi.Server, id string) *awsapi.Instance {
	for _, inst := range srv.Instances() {
		if inst.ID == id {
			return &inst
		}
	}
	return nil
}

func TestEC2CloudRestart(t *testing.T) {
	c, srv := cloudOn(t, []awsapi.Instance{webInstance("i-0000000000000000a", "running"), webInstance("i-0000000000000000b", "stopped"), webInstance("i-0000000000000000c", "terminated")})
	ctx := context.Background()
	for _, id := range []string{"i-0000000000000000a", "i-0000000000000000b"} {
		if err := c.Restart(ctx, id); err != nil {
			t.Fatalf("restart %s: %v", id, err)
		}
		if got := find(srv, id); got.State != "running" {
			t.Errorf("%s after restart: %s", id, got.State)
		}
	}
	if st, err := c.State(ctx, "i-0000000000000000b"); err != nil || st != "running" {
		t.Errorf("state %q, %v", st, err)
	}
	if err := c.Restart(ctx, "i-0000000000000000c"); err == nil || !strings.Contains(err.Error(), "only a replacement brings it back") {
		t.Errorf("restart of a terminated instance: %v", err)
	}
	if _, err := c.State(ctx, "i-00000000000000fff"); !errors.Is(err, ErrNoInstance) {
		t.Errorf("unknown instance: %v, want ErrNoInstance", err)
	}
}

func TestEC2CloudReplace(t *testing.T) {
	c, srv := cloudOn(t, []awsapi.Instance{webInstance("i-0000000000000000a", "stopped")})
	ctx := context.Background()
	newID, err := c.Replace(ctx, "i-0000000000000000a", "opsrun-heal-token1")
	if err != nil {
		t.Fatal(err)
	}
	if old := find(srv, "i-0000000000000000a"); old.State != "terminated" {
		t.Errorf("old instance %s, want terminated", old.State)
	}
	got := find(srv, newID)
	if got == nil || got.State != "running" {
		t.Fatalf("replacement %s: %+v", newID, got)
	}
	if got.ImageID != "ami-0123456789abcdef0" || got.Type != "t3.small" || got.SubnetID != awsapi.DefaultSubnetID || got.KeyName != "ops" ||
		len(got.SecurityGroups) != 1 || got.SecurityGroups[0].ID != awsapi.DefaultSecurityGroupID {
		t.Errorf("replacement is not alike: %+v", got)
	}
	if got.Tags["Name"] != "web-1" || got.Tags["opsrun:layer"] != "web" {
		t.Errorf("tags not copied: %v", got.Tags)
	}
	if _, ok := got.Tags["aws:cloudformation:stack-name"]; ok {
		t.Errorf("an aws: tag was copied (EC2 refuses them): %v", got.Tags)
	}
	// The same token again (a watcher retrying after it died) launches
	// nothing new.
	again, err := c.Replace(ctx, "i-0000000000000000a", "opsrun-heal-token1")
	if err != nil || again != newID {
		t.Errorf("retried replace: %s, %v; want %s again", again, err, newID)
	}
	if n := len(srv.Instances()); n != 2 {
		t.Errorf("%d instances, want the old and one replacement", n)
	}
}
