package apps

import (
	"fmt"
	"strings"
	"testing"
)

// pythonApp is a plain WSGI function (the standard library only): it
// answers its version, PORT and GREETING from the app's environment.
func pythonApp(version string) map[string]string {
	return map[string]string{"app/app.py": `import os

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    body = "` + version + ` port=%s greeting=%s\n" % (os.environ.get("PORT"), os.environ.get("GREETING"))
    return [body.encode()]
`}
}

// pythonStack is the test's stack: the app runs as its own user
// (nobody), not the layer's.
func pythonStack(greeting string, workers int) string {
	return fmt.Sprintf(`
app "web" {
  layers      = ["front"]
  user        = "nobody"
  environment = { GREETING = %q }
  source {
    path = "app"
  }
  health_check {
    http = "/"
    port = 8080
  }
}

layer "front" {
  use      = "python"
  settings = { workers = %d }
}
`, greeting, workers)
}

// TestPython serves a WSGI app with gunicorn; a new release is taken
// over by a graceful reload (the master stays), a new environment by a
// restart, and a new number of workers by configure.
func TestPython(t *testing.T) {
	t.Parallel()
	s, host, client := serve(t, pythonStack("hello", 3), pythonApp)
	expectBody(t, client, host, "v1 port=8080 greeting=hello")
	pid := mainPID(t, host, "opsrun-web")
	if u := processUser(t, host, pid); u != "nobody" {
		t.Errorf("gunicorn runs as %q, want the app's user nobody", u)
	}
	if n := strings.TrimSpace(pool.Sh(t, host, "pgrep -c -P "+pid)); n != "3" {
		t.Errorf("gunicorn has %s workers, want 3", n)
	}

	// Same environment: HUP, the master stays and new workers import v2.
	redeploy(t, s, "web", pythonApp, "v2")
	expectBody(t, client, host, "v2 port=8080 greeting=hello")
	if now := mainPID(t, host, "opsrun-web"); now != pid {
		t.Errorf("v2 was not a graceful reload: gunicorn's master went from pid %s to %s", pid, now)
	}

	// A new environment needs a new master: HUP would keep the old one.
	hosts := map[string][]string{"front": {host}}
	write(t, s, "stack.hcl", pythonStack("bonjour", 3))
	s.Load(hosts)
	redeploy(t, s, "web", pythonApp, "v3")
	expectBody(t, client, host, "v3 port=8080 greeting=bonjour")
	restarted := mainPID(t, host, "opsrun-web")
	if restarted == pid {
		t.Errorf("a release with a new environment did not restart gunicorn (pid %s)", pid)
	}

	// Settings reach the running app at configure.
	write(t, s, "stack.hcl", pythonStack("bonjour", 2))
	s.Load(hosts)
	if o := s.Run("configure"); o.Totals.Changed == 0 {
		t.Error("configure with 2 workers changed nothing")
	}
	expectBody(t, client, host, "v3 ")
	now := mainPID(t, host, "opsrun-web")
	if n := strings.TrimSpace(pool.Sh(t, host, "pgrep -c -P "+now)); now == restarted || n != "2" {
		t.Errorf("after configure with 2 workers: master %s (was %s) has %s workers", now, restarted, n)
	}
}
