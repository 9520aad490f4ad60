package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/testenv/awsapi"
)

// ec2StackDir writes a stack with one static host and an EC2 inventory
// selecting tag:stack=shop.
func ec2StackDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := `
stack "shop" {
  ssh { user = "deploy" }
}
layer "web" {}
host "static1" {
  address = "192.0.2.1"
  port    = 2200
  layers  = ["web"]
}
inventory "ec2" {
  filters = { "tag:stack" = ["shop"] }
}
`
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func shopInstances() []awsapi.Instance {
	mk := func(id, name, layers, stack string) awsapi.Instance {
		return awsapi.Instance{ID: id, State: "running", Type: "t3.micro", AvailabilityZone: "us-east-1a",
			PrivateIP: "10.0.0." + id[len(id)-1:], LaunchTime: time.Unix(0, 0),
			Tags: map[string]string{"Name": name, awsapi.TagLayer: layers, "stack": stack}}
	}
	return []awsapi.Instance{mk("i-01", "web1", "web", "shop"), mk("i-02", "db1", "db,backup", "shop"), mk("i-03", "other", "web", "blog")}
}

func TestInventoryJSON(t *testing.T) {
	awsapi.Serve(t, awsapi.New(shopInstances()))
	code, out, errOut := mainIn("inventory", ec2StackDir(t), "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var hosts []struct {
		Name    string
		Address string
		Port    int
		User    string
		Layers  []string
		Vars    map[string]any
	}
	if err := json.Unmarshal([]byte(out), &hosts); err != nil {
		t.Fatalf("not one JSON array: %v\n%s", err, out)
	}
	if len(hosts) != 3 {
		t.Fatalf("hosts = %+v", hosts)
	}
	s, db, web := hosts[0], hosts[1], hosts[2]
	if s.Name != "static1" || s.Address != "192.0.2.1" || s.Port != 2200 || s.User != "deploy" {
		t.Errorf("static host = %+v", s)
	}
	if db.Name != "db1" || db.Address != "10.0.0.2" || db.Port != 22 || db.User != "deploy" || !slices.Equal(db.Layers, []string{"db", "backup"}) {
		t.Errorf("db1 = %+v", db)
	}
	if web.Name != "web1" || web.Vars["instance_id"] != "i-01" || web.Vars["tags"].(map[string]any)["stack"] != "shop" {
		t.Errorf("web1 = %+v", web)
	}
}

func TestInventoryText(t *testing.T) {
	awsapi.Serve(t, awsapi.New(shopInstances()))
	code, out, errOut := mainIn("inventory", ec2StackDir(t))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := [][]string{
		{"NAME", "ADDRESS", "PORT", "USER", "LAYERS"},
		{"static1", "192.0.2.1", "2200", "deploy", "web"},
		{"db1", "10.0.0.2", "22", "deploy", "db,backup"},
		{"web1", "10.0.0.1", "22", "deploy", "web"},
	}
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", out)
	}
	for i, l := range lines {
		if got := strings.Fields(l); !slices.Equal(got, want[i]) {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}
}

func TestInventoryErrors(t *testing.T) {
	awsapi.Serve(t, awsapi.New(nil))
	dir := ec2StackDir(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	code, _, errOut := mainIn("inventory", dir)
	want := filepath.Join(dir, "stack.hcl") + `:11: inventory "ec2": no AWS credentials found: set AWS_ACCESS_KEY_ID`
	if code != ExitError || !strings.Contains(errOut, want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want 1 and one line containing %q", code, errOut, want)
	}
	if code, _, errOut := mainIn("inventory", dir, "-o", "yaml"); code != ExitError || !strings.Contains(errOut, "--output must be text or json") {
		t.Errorf("-o yaml: exit %d, %s", code, errOut)
	}
	// validate checks the block without calling AWS.
	if code, out, errOut := mainIn("validate", dir); code != ExitOK || !strings.Contains(out, "is valid") {
		t.Errorf("validate: exit %d %s%s", code, out, errOut)
	}
}
