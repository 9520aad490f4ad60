package apps

import "testing"

// rubyApp is a config.ru with a lambda; it loads Rack's library, which
// the layer installs beside puma.
func rubyApp(version string) map[string]string {
	return map[string]string{"app/config.ru": `require "rack"
run lambda { |env| [200, { "content-type" => "text/plain" }, ["` + version + ` port=#{ENV["PORT"]} env=#{ENV["RACK_ENV"]} rack=#{Rack.release}\n"]] }
`}
}

// TestRuby serves a Rack app with puma as the user the layer's settings
// name; a new release is taken over by puma's restart in place (the
// same process, re-executed).
func TestRuby(t *testing.T) {
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
  use      = "ruby"
  settings = { user = "nobody" }
}
`, rubyApp)
	expectBody(t, client, host, "v1 port=8080 env=production rack=2.")
	pid := mainPID(t, host, "opsrun-web")
	if u := processUser(t, host, pid); u != "nobody" {
		t.Errorf("puma runs as %q, want the layer's user setting nobody", u)
	}

	redeploy(t, s, "web", rubyApp, "v2")
	expectBody(t, client, host, "v2 port=8080 ")
	if now := mainPID(t, host, "opsrun-web"); now != pid {
		t.Errorf("v2 was not a restart in place: puma went from pid %s to %s", pid, now)
	}
}
