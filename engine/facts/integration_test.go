package facts

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/sshconn"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/testenv"
)

// dialFirst connects to the fleet's first host the way a run does: through
// the fleet's own inventory, with no ssh_config.
func dialFirst(t *testing.T, fleet *testenv.Fleet) transport.Conn {
	t.Helper()
	inv, diags := inventory.LoadFiles(hclparse.NewParser(), fleet.InventoryPath)
	if diags.HasErrors() {
		t.Fatalf("load inventory: %v", diags)
	}
	d, err := sshconn.NewDialer(sshconn.Options{SSHConfigFile: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.Dial(ctx, inv.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestIntegrationGather gathers facts from a real Debian minbase host
// (systemd, no iproute2: the addresses come from /proc) and checks them
// against what testenv and this machine know independently.
func TestIntegrationGather(t *testing.T) {
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "web", Count: 1}}})
	want := fleet.Hosts[0]
	c := dialFirst(t, fleet)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The image must really lack ip, or this test would not exercise the
	// /proc fallback it exists for.
	if res, err := c.Run(ctx, transport.Cmd{Command: "command -v ip"}); err != nil || res.ExitStatus == 0 {
		t.Fatalf("test host has ip (%q, %v): the fallback is not exercised", res.Stdout, err)
	}

	f, err := Gather(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("facts: %+v", *f)
	checks := []struct{ name, got, want string }{
		{"os.id", f.OS.ID, "debian"},
		{"os.family", f.OS.Family, "debian"},
		{"os.version", f.OS.Version, "12"},
		{"os.name", f.OS.Name, "Debian GNU/Linux 12 (bookworm)"},
		{"init", f.Init, "systemd"},
		{"pkg_mgr", f.PkgMgr, "apt"},
		{"hostname", f.Hostname, want.Name},
		{"private_ip", f.PrivateIP, want.InternalIP},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// A container shares the kernel of this machine.
	if local, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil && f.Kernel != strings.TrimSpace(string(local)) {
		t.Errorf("kernel = %q, want this machine's %q", f.Kernel, strings.TrimSpace(string(local)))
	}
	if f.Arch == "" || f.CPUs < 1 || f.MemoryMB < 1 {
		t.Errorf("arch %q, cpus %d, memory_mb %d: want all set", f.Arch, f.CPUs, f.MemoryMB)
	}
	if !slices.Contains(f.IPv4["eth0"], want.InternalIP) {
		t.Errorf("ipv4 = %v, want eth0 to hold %s", f.IPv4, want.InternalIP)
	}
	if _, ok := f.IPv4["lo"]; ok {
		t.Errorf("ipv4 = %v lists lo", f.IPv4)
	}
	v := f.Value()
	if got := v.GetAttr("os").GetAttr("family").AsString(); got != "debian" {
		t.Errorf("Value().os.family = %q", got)
	}
}
