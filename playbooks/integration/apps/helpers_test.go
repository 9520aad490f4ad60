package apps

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// client is the host the HTTP tests GET from: it only sends requests,
// so one serves them all.
var client struct {
	once sync.Once
	host string
}

// clientHost takes the shared client host from the pool the first time.
// Call it after the test's own Take, which skips the test when there is
// no pool.
func clientHost(t *testing.T) string {
	t.Helper()
	client.once.Do(func() { client.host = pool.Take(t, 1)[0] })
	if client.host == "" {
		t.Fatal("the client host could not be taken (see the first test to ask for it)")
	}
	return client.host
}

// appFiles are an app's files at a version, by path in the stack
// directory (app/...).
type appFiles func(version string) map[string]string

// serve writes stackHCL (an app "web" on the layer "front") and the app at
// version v1, and converges it on a host of the test's own. It returns
// the stack, that host and the client to GET from.
func serve(t *testing.T, stackHCL string, app appFiles) (*playtest.Stack, string, string) {
	t.Helper()
	host := pool.Take(t, 1)[0]
	files := app("v1")
	files["stack.hcl"] = stackHCL
	s := pool.NewStack(t, files, map[string][]string{"front": {host}})
	s.Converge("web")
	return s, host, clientHost(t)
}

// redeploy writes the app's files at version and deploys app.
func redeploy(t *testing.T, s *playtest.Stack, app string, files appFiles, version string) {
	t.Helper()
	for name, content := range files(version) {
		write(t, s, name, content)
	}
	s.Deploy(app)
}

// write replaces one file of the stack directory (the test reloads the
// stack when it is stack.hcl).
func write(t *testing.T, s *playtest.Stack, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.Dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expectBody GETs / on port 8080 of host from the client until it answers
// 200 with a body starting with want (a reload lets the old processes
// finish first), and fails the test otherwise.
func expectBody(t *testing.T, from, host, want string) {
	t.Helper()
	code, body := pool.GetUntil(t, from, host, 8080, "/", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, want)
	})
	if code != 200 || !strings.HasPrefix(body, want) {
		t.Fatalf("GET / from %s: %d %q, want 200 %q...", from, code, body, want)
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

// processUser is the user process pid runs as.
func processUser(t *testing.T, host, pid string) string {
	t.Helper()
	return strings.TrimSpace(pool.Sh(t, host, "ps -o user= -p "+pid))
}
