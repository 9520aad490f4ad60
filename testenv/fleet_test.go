package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshRun runs the real OpenSSH client with the fleet's ssh_config.
func sshRun(t *testing.T, f *Fleet, host string, command ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("OpenSSH client not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-F", f.SSHConfigPath, host}, command...)
	out, err := exec.CommandContext(ctx, "ssh", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func fleetContainers(t *testing.T, name string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "-q", "--filter", "label="+labelFleet+"="+name).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

func TestFleetSystemd(t *testing.T) {
	t.Parallel()
	f := New(t, Spec{Layers: []LayerCount{{"web", 1}, {"db", 1}}})
	if len(f.Hosts) != 2 || f.Hosts[0].Name != "web-1" || f.Hosts[1].Name != "db-1" || f.Bastion != nil {
		t.Fatalf("hosts = %+v", f.Hosts)
	}
	for _, h := range f.Hosts {
		if h.Address != "127.0.0.1" || h.Port == 0 || h.InternalIP == "" {
			t.Errorf("host %s: address %s:%d internal %q", h.Name, h.Address, h.Port, h.InternalIP)
		}
	}
	// StrictHostKeyChecking=yes in ssh_config: this passes only if the
	// known_hosts Up wrote holds the key the host really presents.
	out, err := sshRun(t, f, "web-1", "hostname")
	if err != nil || out != "web-1" {
		t.Fatalf("ssh web-1 hostname = %q, %v", out, err)
	}
	out, err = sshRun(t, f, "db-1", "sudo -n true && id -un && systemctl is-active ssh")
	if err != nil || out != "opsrun\nactive" {
		t.Fatalf("sudo on db-1 = %q, %v", out, err)
	}
	// deploy needs its password for sudo.
	out, err = sshRun(t, f, "web-1", "echo "+DeployPassword+" | sudo -S -u deploy sh -c 'echo "+DeployPassword+" | sudo -S -p \"\" id -u'")
	if err != nil || !strings.HasSuffix(out, "0") {
		t.Fatalf("deploy sudo with password = %q, %v", out, err)
	}
	if out, err := f.Exec(context.Background(), "web-1", "sh", "-c", "sudo -n -u deploy sudo -n true 2>&1; echo rc=$?"); err != nil || !strings.Contains(string(out), "rc=1") {
		t.Fatalf("deploy sudo without password should fail: %q, %v", out, err)
	}
	// The apt indexes are baked into the image.
	if out, err := f.Exec(context.Background(), "db-1", "sh", "-c", "ls /var/cache/apt/pkgcache.bin && ls /var/lib/apt/lists | grep -c Packages"); err != nil {
		t.Fatalf("apt cache missing: %q, %v", out, err)
	}
	// Each host has its own key.
	if f.Hosts[0].HostKey == f.Hosts[1].HostKey || f.Hosts[0].HostKey == "" {
		t.Errorf("host keys not distinct: %q %q", f.Hosts[0].HostKey, f.Hosts[1].HostKey)
	}
	loaded, err := Load(f.Dir)
	if err != nil || loaded.Name != f.Name || len(loaded.Hosts) != 2 || loaded.Hosts[1].Port != f.Hosts[1].Port {
		t.Fatalf("Load = %+v, %v", loaded, err)
	}
	st, err := statusOf(context.Background(), f.Name)
	if err != nil || st == nil || st.Running != 2 || st.Total != 2 || !st.Network || st.Dir != f.Dir {
		t.Fatalf("status = %+v, %v", st, err)
	}
}

func TestFleetBastion(t *testing.T) {
	t.Parallel()
	f := New(t, Spec{Hosts: 2, Bastion: true})
	if f.Bastion == nil || f.Bastion.Address != "127.0.0.1" || f.Bastion.Port == 0 {
		t.Fatalf("bastion = %+v", f.Bastion)
	}
	for _, h := range f.Hosts {
		if h.Address != h.InternalIP || h.Port != 22 {
			t.Errorf("host %s: dialed at %s:%d, want its internal IP on port 22", h.Name, h.Address, h.Port)
		}
		out, err := exec.Command("docker", "port", h.Container).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("host %s publishes ports: %q, %v", h.Name, out, err)
		}
	}
	out, err := sshRun(t, f, "host-2", "hostname")
	if err != nil || out != "host-2" {
		t.Fatalf("ssh through the bastion = %q, %v", out, err)
	}
	inv, err := os.ReadFile(f.InventoryPath)
	if err != nil || !strings.Contains(string(inv), `proxy_jump        = "opsrun@127.0.0.1:`) {
		t.Fatalf("inventory lacks proxy_jump: %s %v", inv, err)
	}
}

func TestFleetSSHDInitAndDown(t *testing.T) {
	t.Parallel()
	f := New(t, Spec{Hosts: 3, Init: InitSSHD})
	out, err := sshRun(t, f, "host-3", "hostname; sudo -n true && echo sudo-ok")
	if err != nil || out != "host-3\nsudo-ok" {
		t.Fatalf("ssh host-3 = %q, %v", out, err)
	}
	if err := f.Kill(context.Background(), "host-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sshRun(t, f, "host-1", "true"); err == nil {
		t.Fatal("ssh to a killed host succeeded")
	}
	ctx := context.Background()
	if err := Down(ctx, f.Name, f.Dir); err != nil {
		t.Fatal(err)
	}
	if ids := fleetContainers(t, f.Name); len(ids) != 0 {
		t.Fatalf("containers left after Down: %v", ids)
	}
	if out, _ := exec.Command("docker", "network", "ls", "-q", "--filter", "name="+networkName(f.Name)).Output(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("network left after Down")
	}
	for _, n := range fleetFiles {
		if _, err := os.Stat(filepath.Join(f.Dir, n)); err == nil {
			t.Errorf("%s left after Down", n)
		}
	}
	if err := Down(ctx, f.Name, f.Dir); err != nil {
		t.Fatalf("second Down: %v", err)
	}
}

// TestUpFailureLeavesNothing makes Up fail, and be cancelled, once its
// containers run, and checks it removed them, the network and its files.
func TestUpFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	New(t, Spec{Hosts: 1, Init: InitSSHD}) // skips when Docker is unavailable; builds the image
	for _, mode := range []string{"error", "cancel"} {
		t.Run(mode, func(t *testing.T) {
			parent := t.TempDir()
			spec := Spec{Name: testFleetName(t.Name()), Hosts: 3, Bastion: true, Init: InitSSHD, Dir: filepath.Join(parent, "fleet")}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			boom := errors.New("boom")
			_, err := up(ctx, spec, nil, func(stage string) error {
				if n := len(fleetContainers(t, spec.Name)); n != 4 {
					t.Errorf("at stage %s: %d containers, want 4", stage, n)
				}
				if mode == "cancel" {
					cancel()
					return ctx.Err()
				}
				return boom
			})
			if mode == "error" && !errors.Is(err, boom) || mode == "cancel" && !errors.Is(err, context.Canceled) {
				t.Fatalf("Up error = %v", err)
			}
			if ids := fleetContainers(t, spec.Name); len(ids) != 0 {
				t.Errorf("containers left: %v", ids)
			}
			if st, err := statusOf(context.Background(), spec.Name); st != nil || err != nil {
				t.Errorf("fleet left: %+v, %v", st, err)
			}
			if _, err := os.Stat(spec.Dir); !os.IsNotExist(err) {
				t.Errorf("fleet directory left: %v", err)
			}
		})
	}
}

func TestUpRefusesExistingName(t *testing.T) {
	t.Parallel()
	f := New(t, Spec{Hosts: 1, Init: InitSSHD})
	_, err := Up(context.Background(), Spec{Name: f.Name, Hosts: 1, Init: InitSSHD, Dir: t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "opsrun testenv down --name "+f.Name) {
		t.Fatalf("Up with a taken name: %v", err)
	}
	// The refused Up must not have touched the running fleet.
	if out, err := sshRun(t, f, "host-1", "hostname"); err != nil || out != "host-1" {
		t.Fatalf("original fleet broken: %q, %v", out, err)
	}
}
