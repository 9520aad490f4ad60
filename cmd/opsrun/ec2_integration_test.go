package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/testenv"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// TestEC2InventoryOnFleet: examples/ec2, whose only inventory is EC2,
// against the local endpoint over a real fleet, lists the fleet's hosts
// with their layers and runs setup on them, with the instance metadata in
// host.vars.
func TestEC2InventoryOnFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "web", Count: 2}, {Layer: "db", Count: 1}}})
	instances := awsapi.FleetInstances(fleet, awsapi.DefaultRegion, time.Now())
	// A running instance of another stack: the tag filter must keep it
	// out, or setup would fail trying to reach it.
	instances = append(instances, awsapi.Instance{
		ID: "i-0decoy0000000000", State: "running", Type: "t3.micro", PrivateIP: "192.0.2.10", PublicIP: "192.0.2.10",
		Tags: map[string]string{"Name": "decoy", awsapi.TagLayer: "web", awsapi.TagStack: "elsewhere"},
	})
	awsapi.Serve(t, awsapi.New(instances))
	example := filepath.Join("..", "..", "examples", "ec2")
	stackVar := "stack_tag=" + fleet.Name

	code, out, errOut := mainIn("inventory", example, "--var", stackVar, "-o", "json")
	if code != ExitOK {
		t.Fatalf("inventory: exit %d\n%s", code, errOut)
	}
	type listedHost struct {
		Name    string
		Address string
		Port    int
		User    string
		Layers  []string
	}
	var listed []listedHost
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("inventory -o json: %v\n%s", err, out)
	}
	if len(listed) != len(fleet.Hosts) {
		t.Fatalf("listed %+v, want the %d fleet hosts", listed, len(fleet.Hosts))
	}
	for _, h := range fleet.Hosts {
		i := slices.IndexFunc(listed, func(l listedHost) bool { return l.Name == h.Name })
		if i < 0 {
			t.Errorf("host %s not listed: %+v", h.Name, listed)
			continue
		}
		if l := listed[i]; l.Address != "127.0.0.1" || l.Port != h.Port || l.User != "opsrun" || !slices.Equal(l.Layers, h.Layers) {
			t.Errorf("%s listed as %+v, want opsrun@127.0.0.1:%d layers %v", h.Name, l, h.Port, h.Layers)
		}
	}

	// The fleet's ssh_config gives each host (by name) its key and
	// known_hosts, as the example's comment says.
	streams, runOut, runErr := testIO()
	args := []string{"run", "setup", example, "--var", stackVar, "--ssh-config", fleet.SSHConfigPath,
		"--state", filepath.Join(t.TempDir(), "state.db"), "-o", "json"}
	if code := Main(args, streams); code != ExitOK {
		t.Fatalf("run setup: exit %d\n%s%s", code, runOut, runErr)
	}
	byName := map[string]awsapi.Instance{}
	for _, inst := range instances {
		byName[inst.Tags["Name"]] = inst
	}
	for _, h := range fleet.Hosts {
		got, err := fleet.Exec(context.Background(), h.Name, "cat", "/etc/opsrun-instance")
		inst := byName[h.Name]
		want := fmt.Sprintf("id=%s\ntype=t3.micro\naz=%s\nstack=%s\nlayers=%s\n", inst.ID, inst.AvailabilityZone, fleet.Name, strings.Join(h.Layers, ","))
		if err != nil || string(got) != want {
			t.Errorf("%s: /etc/opsrun-instance = %q (%v), want %q", h.Name, got, err, want)
		}
	}
}

// TestTestenvUpAWS: `opsrun testenv up --aws` (the real binary, since the
// endpoint is a re-exec of it) leaves an endpoint running after it exits,
// whose aws.env is all the SDK needs; `testenv down` stops it.
func TestTestenvUpAWS(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	ctx := context.Background()
	if _, err := testenv.Status(ctx); errors.Is(err, testenv.ErrUnavailable) && os.Getenv(testenv.RequireDockerEnv) != "1" {
		t.Skipf("testenv unavailable: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "opsrun")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name, dir := "t-upaws-"+hex.EncodeToString(b[:]), filepath.Join(t.TempDir(), "fleet")
	down := func() ([]byte, error) {
		return exec.Command(bin, "testenv", "down", "--name", name, "--dir", dir).CombinedOutput()
	}
	t.Cleanup(func() { _, _ = down() })
	if out, err := exec.CommandContext(ctx, bin, "testenv", "up", "--name", name, "--layers", "web:2", "--aws", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("testenv up --aws: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, awsapi.EnvFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			t.Setenv(k, v)
		}
	}
	stackDir := t.TempDir()
	src := fmt.Sprintf("stack \"s\" {}\nlayer \"web\" {}\ninventory \"ec2\" {\n  filters = { \"tag:opsrun:stack\" = [%q] }\n}\n", name)
	if err := os.WriteFile(filepath.Join(stackDir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := mainIn("inventory", stackDir)
	if code != ExitOK || !strings.Contains(out, "web-1") || !strings.Contains(out, "web-2") {
		t.Fatalf("inventory through aws.env: exit %d\n%s%s", code, out, errOut)
	}

	pid, err := os.ReadFile(filepath.Join(dir, awsapi.PIDFile))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := down(); err != nil {
		t.Fatalf("testenv down: %v\n%s", err, out)
	}
	cmdline, _ := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "cmdline"))
	if strings.Contains(string(cmdline), awsapi.EndpointSubcommand) {
		t.Errorf("the endpoint (pid %s) still runs after testenv down", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("fleet directory left behind: %v", err)
	}
}
