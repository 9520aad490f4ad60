package apps2

import (
	"strings"
	"testing"
)

// goApp is a net/http server, built on this machine by the app's
// local_build: it answers its version, its -prefix argument, the PORT it
// was given and GREETING from the app's environment.
func goApp(version string) map[string]string {
	return map[string]string{
		"hello/go.mod": "module hello\n\ngo 1.22\n",
		"hello/main.go": `package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
)

func main() {
	prefix := flag.String("prefix", "", "said first")
	flag.Parse()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s ` + version + ` port=%s greeting=%s\n", *prefix, os.Getenv("PORT"), os.Getenv("GREETING"))
	})
	if err := http.ListenAndServe(":"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`,
	}
}

// TestGo ships a binary built on this machine (the host has no Go),
// runs it with the layer's args and the app's environment, deploys a
// new build, which restarts it, applies new args by configure, then
// shuts it down and undeploys it.
func TestGo(t *testing.T) {
	t.Parallel()
	host, from := takeHosts(t)
	files := goApp("v1")
	files["stack.hcl"] = `
app "hello" {
  layers = ["api"]
  source {
    path        = "hello"
    local_build = "CGO_ENABLED=0 go build -o bin/hello ."
  }
  environment = { GREETING = "hi" }
  health_check {
    http = "/"
    port = 9090
  }
}

layer "api" {
  use      = "go"
  settings = { port = 9090, binary = "bin/hello", args = "-prefix hello" }
}
`
	s := pool.NewStack(t, files, map[string][]string{"api": {host}})
	s.Converge("hello")
	if out := pool.Sh(t, host, "command -v go || echo none"); out != "none\n" {
		t.Fatalf("the host has Go (%q): the test would not show that it needs none", out)
	}
	expectBody(t, from, host, 9090, "/", "hello v1 port=9090 greeting=hi\n")
	pid := running(t, host, "opsrun-hello")
	redeploy(t, s, "hello", goApp("v2"), from, host, 9090, "hello v2 ", pid)

	// A setting changed: configure rewrites the unit and restarts the
	// running app with it.
	writeFiles(t, s.Dir, map[string]string{"stack.hcl": strings.Replace(files["stack.hcl"], "-prefix hello", "-prefix hey", 1)})
	s.Load(map[string][]string{"api": {host}})
	if o := s.Run("configure"); o.Totals.Changed == 0 {
		t.Errorf("configure with new args changed nothing")
	}
	expectBody(t, from, host, 9090, "/", "hey v2 ")

	s.Run("shutdown")
	if out := pool.Sh(t, host, "systemctl is-active opsrun-hello || true"); !strings.HasPrefix(out, "inactive") {
		t.Errorf("after shutdown opsrun-hello is %q", out)
	}
	undeploy(t, s, from, host, "opsrun-hello", 9090, "hello")
}
