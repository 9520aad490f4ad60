package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// writtenFleet writes the files of a fleet with no hosts into a temporary
// directory, as Up would, without Docker.
func writtenFleet(t *testing.T) *Fleet {
	t.Helper()
	dir := t.TempDir()
	f := &Fleet{
		Name: "filesonly", Dir: dir, Init: InitSSHD, Hosts: []Host{},
		InventoryPath: filepath.Join(dir, InventoryFile), SSHConfigPath: filepath.Join(dir, SSHConfigFile),
		KnownHostsPath: filepath.Join(dir, KnownHostsFile), KeyPath: filepath.Join(dir, KeyFile),
	}
	files, err := renderFleetFiles(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range files {
		if err := os.WriteFile(filepath.Join(dir, w.name), w.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestUpdateKeepsConcurrentChanges(t *testing.T) {
	f := writtenFleet(t)
	key, err := newKeyPair("root@h")
	if err != nil {
		t.Fatal(err)
	}
	hostKey := strings.TrimSpace(string(key.AuthorizedKey()))
	const n = 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.update(context.Background(), func(nf *Fleet) error {
				nf.Hosts = append(nf.Hosts, Host{Name: fmt.Sprintf("h-%d", i), Container: fmt.Sprintf("c-%d", i), Address: "127.0.0.1", Port: 41000 + i, Layers: []string{}, HostKey: hostKey})
				return nil
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) != n {
		t.Fatalf("%d hosts in fleet.json after %d concurrent launches: writes were lost", len(f.Hosts), n)
	}
	known, _ := os.ReadFile(f.KnownHostsPath)
	config, _ := os.ReadFile(f.SSHConfigPath)
	inventory, _ := os.ReadFile(f.InventoryPath)
	for i := range n {
		if !strings.Contains(string(known), fmt.Sprintf("[127.0.0.1]:%d ", 41000+i)) ||
			!strings.Contains(string(config), fmt.Sprintf("Host h-%d\n", i)) ||
			!strings.Contains(string(inventory), fmt.Sprintf(`host "h-%d"`, i)) {
			t.Errorf("host h-%d missing from known_hosts, ssh_config or inventory.hcl", i)
		}
	}
	// Nothing but the fleet's files is left in the directory, and Down's
	// file removal empties it.
	entries, _ := os.ReadDir(f.Dir)
	for _, e := range entries {
		if !slices.Contains(fleetFiles, e.Name()) {
			t.Errorf("stray file %s", e.Name())
		}
	}
	if err := removeFiles(f.Dir, f.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Dir); !os.IsNotExist(err) {
		t.Errorf("fleet directory left after removing its files: %v", err)
	}
}

func TestUpdateWaitsForTheLock(t *testing.T) {
	f := writtenFleet(t)
	unlock, err := lockFleet(context.Background(), filepath.Join(f.Dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	changed := false
	err = f.update(ctx, func(*Fleet) error { changed = true; return nil })
	if !errors.Is(err, context.DeadlineExceeded) || changed {
		t.Fatalf("update while another holds the lock: changed=%v, %v", changed, err)
	}
	unlock()
	if err := f.update(context.Background(), func(*Fleet) error { changed = true; return nil }); err != nil || !changed {
		t.Fatalf("update once the lock is free: changed=%v, %v", changed, err)
	}
}

func TestLaunchSpecValidation(t *testing.T) {
	for _, tc := range []struct {
		spec LaunchSpec
		want string // "" for valid
	}{
		{LaunchSpec{Name: "web-3", Layers: []string{"web", "app"}, Suffix: "i-0abc"}, ""},
		{LaunchSpec{Name: "i-0123456789abcdef0"}, ""},
		{LaunchSpec{Name: "Web_3"}, `host name "Web_3"`},
		{LaunchSpec{Name: ""}, `host name ""`},
		{LaunchSpec{Name: BastionName}, "bastion"},
		{LaunchSpec{Name: "web-3", Layers: []string{"Web"}}, `layer name "Web"`},
		{LaunchSpec{Name: "web-3", Suffix: "x y"}, `suffix "x y"`},
	} {
		err := tc.spec.validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// TestLaunchReplaceStartStopRemove changes a running fleet host by host
// and checks, with the real ssh client and the fleet's files (strict host
// key checking), that the files follow.
func TestLaunchReplaceStartStopRemove(t *testing.T) {
	t.Parallel()
	f := New(t, Spec{Hosts: 1, Init: InitSSHD})
	ctx := context.Background()
	old := f.Hosts[0]

	// A host launched under host-1's name replaces it in the files.
	h, err := f.Launch(ctx, LaunchSpec{Name: "host-1", Layers: []string{"web"}, Suffix: "r1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Container != containerName(f.Name, "host-1")+"-r1" || !slices.Equal(h.Layers, []string{"web"}) || h.Port == old.Port || h.HostKey == old.HostKey {
		t.Fatalf("launched %+v (old %+v)", h, old)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) != 1 || f.Hosts[0].Container != h.Container {
		t.Fatalf("files list %+v, want the new host-1 only", f.Hosts)
	}
	presented := func() string {
		t.Helper()
		out, err := sshRun(t, f, "host-1", "cat /etc/ssh/opsrun/ssh_host_ed25519_key.pub")
		if err != nil {
			t.Fatalf("ssh host-1: %q, %v", out, err)
		}
		return strings.Join(strings.Fields(out)[:2], " ")
	}
	if got, want := presented(), strings.Join(strings.Fields(h.HostKey)[:2], " "); got != want {
		t.Fatalf("ssh host-1 reached a host with key %s, want the launched one's %s", got, want)
	}
	// Removing the replaced container leaves the replacement listed.
	if err := f.RemoveHost(ctx, old.Container); err != nil {
		t.Fatal(err)
	}
	if st := containerState(t, old.Container); st != "" {
		t.Errorf("removed container is %s", st)
	}
	if err := f.Reload(); err != nil || len(f.Hosts) != 1 || f.Hosts[0].Container != h.Container {
		t.Fatalf("after removing the old host-1: %+v, %v", f.Hosts, err)
	}

	// Launching the same container again fails and changes nothing.
	if _, err := f.Launch(ctx, LaunchSpec{Name: "host-1", Suffix: "r1"}, nil); err == nil {
		t.Fatal("a second launch with the same container name succeeded")
	}
	if cs, err := f.Containers(ctx); err != nil || len(cs) != 1 {
		t.Fatalf("containers after a failed launch: %+v, %v", cs, err)
	}

	// Stop, start: the files follow the port Docker publishes this time,
	// and the host key still verifies.
	if err := f.StopHost(ctx, h.Container); err != nil {
		t.Fatal(err)
	}
	if st := containerState(t, h.Container); st != "exited" {
		t.Fatalf("stopped container is %s", st)
	}
	started, err := f.StartHost(ctx, h.Container)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil || f.Hosts[0].Port != started.Port || started.HostKey != h.HostKey {
		t.Fatalf("after restart the files list %+v (%v), StartHost said %+v", f.Hosts, err, started)
	}
	if out, err := sshRun(t, f, "host-1", "hostname"); err != nil || out != "host-1" {
		t.Fatalf("ssh host-1 after restart = %q, %v", out, err)
	}

	// Only the fleet's own containers are touched.
	if err := f.StopHost(ctx, "opsrun-no-such-container"); err == nil {
		t.Error("StopHost of a missing container succeeded")
	}

	if err := f.RemoveHost(ctx, h.Container); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveHost(ctx, h.Container); err != nil {
		t.Errorf("removing a removed host: %v", err)
	}
	if err := f.Reload(); err != nil || len(f.Hosts) != 0 {
		t.Fatalf("files after removing every host: %+v, %v", f.Hosts, err)
	}
	if known, _ := os.ReadFile(f.KnownHostsPath); len(known) != 0 {
		t.Errorf("known_hosts still holds %s", known)
	}
	if cs, err := f.Containers(ctx); err != nil || len(cs) != 0 {
		t.Errorf("containers left: %+v, %v", cs, err)
	}
}

// containerState is Docker's state of a container, "" when it is gone.
func containerState(t *testing.T, name string) string {
	t.Helper()
	out, err := docker(context.Background(), "inspect", "--type", "container", "--format", "{{.State.Status}}", name)
	if err != nil {
		if strings.Contains(err.Error(), "No such") {
			return ""
		}
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
