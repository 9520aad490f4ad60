package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/testenv"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// TestEC2InventoryOnFleet: a stack whose only inventory is EC2, against
// the local endpoint over a real fleet, lists the fleet's hosts with
// their layers and runs setup on them, with the instance metadata in
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

	dir := t.TempDir()
	src := fmt.Sprintf(`
stack "ec2test" {
  ssh {
    user          = "opsrun"
    identity_file = %q
    known_hosts   = %q
  }
}
variable "stack_tag" { default = %q }

layer "web" {
  on "setup" {
    file "marker" {
      path    = "/etc/opsrun-ec2"
      content = "${host.vars.instance_id} ${host.vars.tags["opsrun:stack"]} ${join(",", host.layers)}\n"
    }
  }
}
layer "db" {
  on "setup" {
    file "marker" {
      path    = "/etc/opsrun-ec2"
      content = "${host.vars.instance_id} ${host.vars.tags["opsrun:stack"]} ${join(",", host.layers)}\n"
    }
  }
}

inventory "ec2" {
  filters   = { "tag:opsrun:stack" = [var.stack_tag] }
  layer_tag = "opsrun:layer"
  address   = "public_ip"
}
`, fleet.KeyPath, fleet.KnownHostsPath, fleet.Name)
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := mainIn("inventory", dir, "-o", "json")
	if code != ExitOK {
		t.Fatalf("inventory: exit %d\n%s", code, errOut)
	}
	var listed []struct {
		Name    string
		Address string
		Port    int
		Layers  []string
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("inventory -o json: %v\n%s", err, out)
	}
	if len(listed) != len(fleet.Hosts) {
		t.Fatalf("listed %+v, want the %d fleet hosts", listed, len(fleet.Hosts))
	}
	for _, h := range fleet.Hosts {
		i := slices.IndexFunc(listed, func(l struct {
			Name    string
			Address string
			Port    int
			Layers  []string
		}) bool {
			return l.Name == h.Name
		})
		if i < 0 {
			t.Errorf("host %s not listed: %+v", h.Name, listed)
			continue
		}
		if l := listed[i]; l.Address != "127.0.0.1" || l.Port != h.Port || !slices.Equal(l.Layers, h.Layers) {
			t.Errorf("%s listed as %+v, want 127.0.0.1:%d layers %v", h.Name, l, h.Port, h.Layers)
		}
	}

	code, totals, _ := runJSON(t, "run", "setup", dir)
	if code != ExitOK || totals.Failed != 0 || totals.Changed != len(fleet.Hosts) {
		t.Fatalf("setup: exit %d, totals %+v", code, totals)
	}
	byName := map[string]awsapi.Instance{}
	for _, inst := range instances {
		byName[inst.Tags["Name"]] = inst
	}
	for _, h := range fleet.Hosts {
		got, err := fleet.Exec(context.Background(), h.Name, "cat", "/etc/opsrun-ec2")
		want := fmt.Sprintf("%s %s %s\n", byName[h.Name].ID, fleet.Name, strings.Join(h.Layers, ","))
		if err != nil || string(got) != want {
			t.Errorf("%s: /etc/opsrun-ec2 = %q (%v), want %q", h.Name, got, err, want)
		}
	}
}
