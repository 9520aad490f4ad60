package web

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStatic serves an app's public directory from its current release,
// and the next release once it is deployed, with no reload.
func TestStatic(t *testing.T) {
	t.Parallel()
	hosts := pool.Take(t, 2)
	web, client := hosts[0], hosts[1]
	s := pool.NewStack(t, map[string]string{
		"stack.hcl": `
layer "www" {
  use      = "static"
  settings = { port = 8081 }
}
layer "client" {}
app "site" {
  layers = ["www"]
  source {
    path = "site"
  }
  health_check {
    http = "/opsrun-health"
    port = 8081
  }
}
`,
		"site/index.html":        "outside public\n",
		"site/public/index.html": "v1\n",
	}, map[string][]string{"www": {web}, "client": {client}})
	s.Converge("site")
	if code, body := pool.Get(t, client, web, 8081, "/"); code != 200 || body != "v1\n" {
		t.Errorf("GET / after the first deploy: %d %q", code, body)
	}
	if code, _ := pool.Get(t, client, web, 8081, "/missing"); code != 404 {
		t.Errorf("GET /missing: %d", code)
	}

	if err := os.WriteFile(filepath.Join(s.Dir, "site", "public", "index.html"), []byte("v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o := s.Deploy("site"); changed(o, web, "command.check") {
		t.Errorf("the second deploy reloaded nginx: %s", o.Changed())
	}
	if code, body := pool.Get(t, client, web, 8081, "/"); code != 200 || body != "v2\n" {
		t.Errorf("GET / after the second deploy: %d %q", code, body)
	}
}
