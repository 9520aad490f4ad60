package run

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// ec2Env points the SDK's standard configuration at a local endpoint
// serving instances, as testenv's aws.env does.
func ec2Env(t *testing.T, instances []awsapi.Instance) {
	t.Helper()
	awsapi.Serve(t, awsapi.New(instances))
}

func ec2Instance(id, name, layers string) awsapi.Instance {
	return awsapi.Instance{
		ID: id, State: "running", Type: "t3.micro", PrivateIP: "10.0.0." + id[len(id)-1:],
		Tags: map[string]string{"Name": name, "opsrun:layer": layers, "stack": "shop"}, LaunchTime: time.Unix(0, 0),
	}
}

func loadStack(t *testing.T, src string) *stack.Stack {
	t.Helper()
	s, diags := stack.Load(fstest.MapFS{"main.hcl": &fstest.MapFile{Data: []byte(src)}}, "/stacks/shop", stack.Inputs{}, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return s
}

const ec2Stack = `
stack "shop" {
  ssh { user = "deploy" }
}
host "static1" {
  address = "192.0.2.1"
  layers  = ["web"]
}
inventory "ec2" {
  filters = { "tag:stack" = ["shop"] }
}
`

func TestDynamicHostsAppendsEC2Hosts(t *testing.T) {
	ec2Env(t, []awsapi.Instance{ec2Instance("i-01", "web1", "web"), ec2Instance("i-02", "db1", "db")})
	s := loadStack(t, ec2Stack)
	static, diags := Hosts(s, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	hosts, err := DynamicHosts(context.Background(), s, static, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"static1", "db1", "web1"}) {
		t.Fatalf("hosts = %v, want the static host, then the EC2 ones", names)
	}
	if h := hosts[2]; h.Address != "10.0.0.1" || h.User != "deploy" || !h.InLayer("web") {
		t.Errorf("web1 = %+v (the stack's ssh user must apply)", h)
	}
	if len(static) != 1 {
		t.Errorf("the static slice was modified: %d hosts", len(static))
	}
}

func TestDynamicHostsRefusesTakenNames(t *testing.T) {
	ec2Env(t, []awsapi.Instance{ec2Instance("i-01", "static1", "web")})
	s := loadStack(t, ec2Stack)
	static, _ := Hosts(s, nil)
	_, err := DynamicHosts(context.Background(), s, static, nil)
	if err == nil || !strings.Contains(err.Error(), `found host "static1", a name already declared at /stacks/shop/main.hcl:5`) || !strings.HasPrefix(err.Error(), "/stacks/shop/main.hcl:9: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestDynamicHostsWithoutBlocksCallsNothing(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // would fail if called
	s := loadStack(t, `stack "s" {}`)
	hosts, err := DynamicHosts(context.Background(), s, []*inventory.Host{{Name: "a"}}, nil)
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts %v, err %v", hosts, err)
	}
}
