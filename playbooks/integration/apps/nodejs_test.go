package apps

import "testing"

// nodeApp is a server using node's http module alone: it answers its
// version, the PORT it was given and NODE_ENV.
func nodeApp(version string) map[string]string {
	return map[string]string{"app/server.js": `const http = require("http");
const port = process.env.PORT;
http.createServer((req, res) => {
  res.writeHead(200, {"Content-Type": "text/plain"});
  res.end("` + version + ` port=" + port + " env=" + process.env.NODE_ENV + " node=" + process.version + "\n");
}).listen(port);
`}
}

// TestNodejs runs a Node.js app as the layer's default user, then
// deploys a new release, which restarts it.
func TestNodejs(t *testing.T) {
	t.Parallel()
	s, host, client := serve(t, `
app "web" {
  layers = ["front"]
  source {
    path = "app"
  }
  health_check {
    http = "/"
    port = 8080
  }
}

layer "front" {
  use = "nodejs"
}
`, nodeApp)
	expectBody(t, client, host, "v1 port=8080 env=production node=v18.")
	pid := mainPID(t, host, "opsrun-web")
	if u := processUser(t, host, pid); u != "www-data" {
		t.Errorf("the app runs as %q, want the layer's default user www-data", u)
	}
	if out := pool.Sh(t, host, "systemctl is-enabled opsrun-web"); out != "enabled\n" {
		t.Errorf("opsrun-web is %q at boot, want enabled", out)
	}

	// The deploy recipes again, with no new release: node is not restarted.
	if o := s.Run("deploy"); o.Totals.Changed != 0 {
		t.Errorf("deploy recipes again changed %d resources: %s", o.Totals.Changed, o.Changed())
	}

	redeploy(t, s, "web", nodeApp, "v2")
	expectBody(t, client, host, "v2 port=8080 ")
	if mainPID(t, host, "opsrun-web") == pid {
		t.Errorf("the deploy served v2 without restarting node (pid %s)", pid)
	}

	s.Run("shutdown")
	if out := pool.Sh(t, host, "systemctl is-active opsrun-web; systemctl is-enabled opsrun-web; true"); out != "inactive\nenabled\n" {
		t.Errorf("after shutdown opsrun-web is %q, want inactive and still enabled", out)
	}
	s.Run("undeploy")
	if out := pool.Sh(t, host, "ls /etc/systemd/system/opsrun-web.service /etc/systemd/system/multi-user.target.wants/opsrun-web.service 2>&1 | grep -c 'No such file'"); out != "2\n" {
		t.Errorf("after undeploy the unit or its boot link is still there (%q missing of 2)", out)
	}
}
