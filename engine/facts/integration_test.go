package facts

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/testenv"
	"github.com/opsrun/opsrun/testenv/fleetssh"
)

// TestIntegrationGather gathers facts from a real Debian minbase host
// (systemd, no iproute2: the addresses come from /proc) and checks them
// against what testenv and this machine know independently.
func TestIntegrationGather(t *testing.T) {
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "web", Count: 1}}})
	want := fleet.Hosts[0]
	c := fleetssh.Dial(t, fleet, fleet.Hosts[0].Name)
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
