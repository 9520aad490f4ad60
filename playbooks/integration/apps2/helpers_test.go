package apps2

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// client is the host the tests GET from: it only sends requests, so one
// serves them all.
var client struct {
	once sync.Once
	host string
}

// takeHosts takes the test's own app host and the shared client (taken
// from the pool by the first test to ask).
func takeHosts(t *testing.T) (host, from string) {
	t.Helper()
	host = pool.Take(t, 1)[0] // skips the test when there is no pool
	client.once.Do(func() { client.host = pool.Take(t, 1)[0] })
	if client.host == "" {
		t.Fatal("the client host could not be taken (see the first test to ask for it)")
	}
	return host, client.host
}

// writeFiles writes files (paths relative to the stack directory) into
// dir, creating their directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// expectBody GETs path on port of host from the client until it answers
// 200 with a body starting with want (a JVM takes a moment to listen, a
// reload lets old workers finish), and fails the test otherwise.
func expectBody(t *testing.T, from, host string, port int, path, want string) {
	t.Helper()
	code, body := pool.GetUntil(t, from, host, port, path, func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, want)
	})
	if code != 200 || !strings.HasPrefix(body, want) {
		t.Fatalf("GET %s from %s: %d %q, want 200 %q...\n%s", path, from, code, body, want, pool.Sh(t, host, "journalctl --no-pager -n 30"))
	}
}

// mainPID is the main process of a systemd unit on host.
func mainPID(t *testing.T, host, unit string) string {
	t.Helper()
	pid := strings.TrimSpace(pool.Sh(t, host, "systemctl show --value -p MainPID "+unit))
	if pid == "" || pid == "0" {
		t.Fatalf("%s: %s has no main process:\n%s", host, unit, pool.Sh(t, host, "systemctl status --no-pager "+unit+"; journalctl --no-pager -n 30 -u "+unit))
	}
	return pid
}

// running checks that the app's unit runs as the layer's default user,
// www-data, and starts at boot, and returns its main process.
func running(t *testing.T, host, unit string) string {
	t.Helper()
	pid := mainPID(t, host, unit)
	if u := pool.Sh(t, host, "ps -o user= -p "+pid); u != "www-data\n" {
		t.Errorf("%s runs as %q, want the layer's default user www-data", unit, u)
	}
	if out := pool.Sh(t, host, "systemctl is-enabled "+unit); out != "enabled\n" {
		t.Errorf("%s is %q at boot, want enabled", unit, out)
	}
	return pid
}

// redeploy writes the app's files at a new version, deploys app and
// checks that port serves want, from a new process: the old one was
// oldPID.
func redeploy(t *testing.T, s *playtest.Stack, app string, files map[string]string, from, host string, port int, want, oldPID string) {
	t.Helper()
	writeFiles(t, s.Dir, files)
	s.Deploy(app)
	expectBody(t, from, host, port, "/", want)
	if mainPID(t, host, "opsrun-"+app) == oldPID {
		t.Errorf("the deploy served %q without restarting the app (pid %s)", want, oldPID)
	}
}

// undeploy runs the undeploy event and checks that the app's unit is
// stopped, disabled and gone, and that port no longer answers with the
// app's content (notWant).
func undeploy(t *testing.T, s *playtest.Stack, from, host, unit string, port int, notWant string) {
	t.Helper()
	if o := s.Run("undeploy"); o.Totals.Changed == 0 {
		t.Errorf("undeploy changed nothing")
	}
	if out := pool.Sh(t, host, "systemctl is-active "+unit+" || true; ls /etc/systemd/system/"+unit+".service 2>&1 || true"); !strings.HasPrefix(out, "inactive\n") || !strings.Contains(out, "No such file") {
		t.Errorf("after undeploy, %s: %q, want inactive and no unit file", unit, out)
	}
	if code, body := pool.Get(t, from, host, port, "/"); code == 200 && strings.HasPrefix(body, notWant) {
		t.Errorf("after undeploy, GET / still answers %d %q", code, body)
	}
	if o := s.Run("undeploy"); o.Totals.Changed != 0 {
		t.Errorf("undeploy again changed %d resources: %s", o.Totals.Changed, o.Changed())
	}
}
