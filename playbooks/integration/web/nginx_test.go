package web

import (
	"strings"
	"testing"
)

// TestNginx serves static files from root, then proxies to an app server
// on the same host.
func TestNginx(t *testing.T) {
	t.Parallel()
	hosts := pool.Take(t, 2)
	web, client := hosts[0], hosts[1]
	s := pool.NewStack(t, map[string]string{"stack.hcl": `
layer "www" {
  use      = "nginx"
  settings = { port = 8080, root = "/srv/www" }
  on "configure" {
    file "index" {
      path    = "/srv/www/index.html"
      content = "hello from ${host.name}\n"
    }
  }
}
layer "client" {}
`}, map[string][]string{"www": {web}, "client": {client}})
	s.Converge()
	code, body := pool.Get(t, client, web, 8080, "/")
	if code != 200 || body != "hello from "+web+"\n" {
		t.Errorf("GET /: %d %q", code, body)
	}
	if code, _ := pool.Get(t, client, web, 8080, "/opsrun-health"); code != 200 {
		t.Errorf("GET /opsrun-health: %d", code)
	}
	if code, _ := pool.Get(t, client, web, 8080, "/missing"); code != 404 {
		t.Errorf("GET /missing: %d", code)
	}

	// proxy_port: nginx passes requests to an app on the host.
	pool.Sh(t, web, `mkdir -p /srv/app && echo proxied > /srv/app/index.html && (cd /srv/app && nohup perl -MIO::Socket::INET -e '
my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:9000", Listen => 5, ReuseAddr => 1) or die;
while (my $c = $s->accept) { my $l = <$c>; while (<$c>) { last if /^\r?$/ } print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nproxied $l"; close $c }' >/dev/null 2>&1 &)`)
	if err := writeStack(s, `
layer "www" {
  use      = "nginx"
  settings = { port = 8080, proxy_port = 9000 }
}
layer "client" {}
`); err != nil {
		t.Fatal(err)
	}
	s.Load(map[string][]string{"www": {web}, "client": {client}})
	o := s.Run("configure")
	if o.Totals.Changed == 0 {
		t.Errorf("configure with proxy_port changed nothing")
	}
	code, body = pool.GetUntil(t, client, web, 8080, "/x", func(code int, body string) bool { return code == 200 })
	if code != 200 || !strings.HasPrefix(body, "proxied GET /x ") {
		t.Errorf("proxied GET /x: %d %q", code, body)
	}
}
