package apps2

import (
	"strings"
	"testing"
)

// phpApp is a front controller that answers its version, the request
// path, PORT and GREETING from the app's environment, a static file
// beside it, and a file outside the document root.
func phpApp(version string) map[string]string {
	return map[string]string{
		"site/public/index.php": `<?php
echo "` + version + ` ", $_SERVER["REQUEST_URI"], " port=", getenv("PORT"), " greeting=", getenv("GREETING"), "\n";
`,
		"site/public/robots.txt": "static " + version + "\n",
		"site/secret.txt":        "outside the document root\n",
	}
}

// phpStack is the test's stack with the app's GREETING.
func phpStack(greeting string) string {
	return `
app "site" {
  layers = ["www"]
  source {
    path = "site"
  }
  environment = { GREETING = "` + greeting + `" }
  health_check {
    http = "/"
    port = 80
  }
}

layer "www" {
  use = "php"
}
`
}

// TestPHP serves an app through nginx and its php-fpm, deploys a new
// release with the same environment (a graceful reload: php-fpm's
// master stays), then one with another environment (a restart, so the
// workers see it), moves it to another port by configure, then
// undeploys it.
func TestPHP(t *testing.T) {
	t.Parallel()
	host, from := takeHosts(t)
	files := phpApp("v1")
	files["stack.hcl"] = phpStack("hi")
	s := pool.NewStack(t, files, map[string][]string{"www": {host}})
	s.Converge("site")
	expectBody(t, from, host, 80, "/", "v1 / port=80 greeting=hi\n")
	expectBody(t, from, host, 80, "/orders/42?x=1", "v1 /orders/42?x=1 ")
	expectBody(t, from, host, 80, "/robots.txt", "static v1\n")
	if _, body := pool.Get(t, from, host, 80, "/secret.txt"); strings.Contains(body, "outside") {
		t.Errorf("GET /secret.txt served a file outside the document root: %q", body)
	}
	master := mainPID(t, host, "opsrun-site")
	workers := pool.Sh(t, host, "ps -o user= --ppid "+master+" | sort -u")
	if workers != "www-data\n" {
		t.Errorf("php-fpm's workers run as %q, want the layer's default user www-data", workers)
	}

	writeFiles(t, s.Dir, phpApp("v2"))
	s.Deploy("site")
	expectBody(t, from, host, 80, "/", "v2 / port=80 greeting=hi\n")
	expectBody(t, from, host, 80, "/robots.txt", "static v2\n")
	if pid := mainPID(t, host, "opsrun-site"); pid != master {
		t.Errorf("a release with the same .env restarted php-fpm (pid %s, was %s), want a reload", pid, master)
	}
	if log := pool.Sh(t, host, "journalctl --no-pager -u opsrun-site"); !strings.Contains(log, "Reloaded") {
		t.Errorf("php-fpm was not reloaded by the deploy:\n%s", log)
	}

	writeFiles(t, s.Dir, map[string]string{"stack.hcl": phpStack("hello")})
	s.Load(map[string][]string{"www": {host}})
	s.Deploy("site")
	expectBody(t, from, host, 80, "/", "v2 / port=80 greeting=hello\n")

	// Another port: configure moves the nginx site and restarts php-fpm,
	// whose unit gives the app PORT.
	writeFiles(t, s.Dir, map[string]string{"stack.hcl": strings.Replace(phpStack("hello"), `use = "php"`, `use = "php"
  settings = { port = 8080 }`, 1)})
	s.Load(map[string][]string{"www": {host}})
	if o := s.Run("configure"); o.Totals.Changed == 0 {
		t.Errorf("configure with another port changed nothing")
	}
	expectBody(t, from, host, 8080, "/", "v2 / port=8080 greeting=hello\n")

	undeploy(t, s, from, host, "opsrun-site", 8080, "v2")
	if out := pool.Sh(t, host, "find /etc/nginx/conf.d /etc/opsrun -type f"); out != "" {
		t.Errorf("undeploy left files:\n%s", out)
	}
}
