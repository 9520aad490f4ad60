package web

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// haproxyStack is an HAProxy layer in front of two nginx backends, each
// page naming its host; its statistics page on 8404 shows each server's
// state.
const haproxyStack = `
layer "lb" {
  use      = "haproxy"
  settings = { backends = ["app"], health_path = "/opsrun-health", stats_port = 8404, drain_timeout = 20 }
}
layer "app" {
  use      = "nginx"
  settings = { port = 8080, root = "/srv/www" }
  on "configure" {
    file "index" {
      path    = "/srv/www/index.html"
      content = "backend ${host.name}\n"
    }
  }
}
layer "client" {}
`

// TestHAProxy balances over two backends, takes a stopped one out by its
// health check, follows a backend leaving the layer without one failed
// request, and drains when the load balancer itself leaves.
func TestHAProxy(t *testing.T) {
	t.Parallel()
	hosts := pool.Take(t, 4)
	lb, b1, b2, client := hosts[0], hosts[1], hosts[2], hosts[3]
	s := pool.NewStack(t, map[string]string{"stack.hcl": haproxyStack},
		map[string][]string{"lb": {lb}, "app": {b1, b2}, "client": {client}})
	s.Converge()

	cfg := pool.Sh(t, lb, "cat /etc/haproxy/haproxy.cfg")
	for _, want := range []string{
		"server " + b1 + " " + pool.IP(t, b1) + ":8080\n",
		"server " + b2 + " " + pool.IP(t, b2) + ":8080\n",
		"option httpchk GET /opsrun-health\n",
		"balance roundrobin\n",
		"bind :80\n",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q:\n%s", want, cfg)
		}
	}

	// Requests through the load balancer reach both backends.
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < 2 && time.Now().Before(deadline) {
		code, body := pool.Get(t, client, lb, 80, "/")
		if code == 200 {
			seen[strings.TrimSpace(body)] = true
		}
	}
	if !seen["backend "+b1] || !seen["backend "+b2] || len(seen) != 2 {
		t.Errorf("answers through the load balancer: %v, want backend %s and backend %s", seen, b1, b2)
	}

	// A backend whose server stops fails its health check and gets no
	// more requests; it comes back when its server does.
	pool.Sh(t, b2, "systemctl stop nginx")
	waitServer(t, client, lb, b2, "DOWN")
	for i := range 6 {
		if code, body := pool.Get(t, client, lb, 80, "/"); code != 200 || body != "backend "+b1+"\n" {
			t.Errorf("request %d with %s down: %d %q", i, b2, code, body)
		}
	}
	pool.Sh(t, b2, "systemctl start nginx")
	waitServer(t, client, lb, b2, "UP")

	// b2 leaves the layer while a client keeps sending requests: its
	// shutdown stops nginx, configure rewrites the server list, and not
	// one request fails meanwhile.
	startLoad(t, client, lb)
	s.Load(map[string][]string{"lb": {lb}, "app": {b1}, "client": {client}})
	o := s.Up()
	answers := stopLoad(t, client)
	t.Logf("%d requests while %s left", len(answers), b2)
	if len(answers) < 20 {
		t.Errorf("only %d requests while %s left; the check proves little", len(answers), b2)
	}
	for i, a := range answers {
		if !strings.HasPrefix(a, "HTTP/1.1 200 ") {
			t.Errorf("request %d of %d while %s left: %q", i, len(answers), b2, a)
		}
	}
	if !changed(o, lb, "command.install") || !changed(o, b2, "service.nginx") {
		t.Errorf("up without %s: want lb's command.install and %s's service.nginx changed; changed: %s", b2, b2, o.Changed())
	}
	cfg = pool.Sh(t, lb, "cat /etc/haproxy/haproxy.cfg")
	if strings.Count(cfg, "\n  server ") != 1 || !strings.Contains(cfg, "server "+b1+" ") {
		t.Errorf("haproxy.cfg after %s left:\n%s", b2, cfg)
	}
	for i := range 4 {
		if code, body := pool.Get(t, client, lb, 80, "/"); code != 200 || body != "backend "+b1+"\n" {
			t.Errorf("request %d after %s left: %d %q", i, b2, code, body)
		}
	}

	// The load balancer leaves while a client holds a connection open:
	// new connections are refused at once, and the open one is still
	// served before HAProxy stops.
	holdConnection(t, client, lb)
	s.Load(map[string][]string{"app": {b1}, "client": {client}})
	o = s.Up()
	if !changed(o, lb, "command.drain") || !changed(o, lb, "service.haproxy") {
		t.Errorf("up without %s: want its command.drain and service.haproxy changed; changed: %s", lb, o.Changed())
	}
	held := pool.Sh(t, client, `for i in $(seq 100); do [ -e /tmp/held.done ] && break; sleep 0.1; done; cat /tmp/held.log`)
	if !strings.Contains(held, "refused") || !strings.Contains(held, "HTTP/1.1 200 OK") || !strings.Contains(held, "backend "+b1) {
		t.Errorf("a connection held open while %s drained: %q", lb, held)
	}
	if out := pool.Sh(t, lb, "systemctl is-active haproxy || true"); strings.TrimSpace(out) != "inactive" {
		t.Errorf("haproxy after %s left: %q, want inactive", lb, out)
	}
}

// waitServer waits until HAProxy's statistics page on lb shows server in
// state ("UP", "DOWN").
func waitServer(t *testing.T, client, lb, server, state string) {
	t.Helper()
	status := func(body string) string {
		for l := range strings.SplitSeq(body, "\n") {
			if f := strings.Split(l, ","); len(f) > 17 && f[0] == "backends" && f[1] == server {
				return f[17]
			}
		}
		return ""
	}
	code, body := pool.GetUntil(t, client, lb, 8404, "/;csv", func(code int, body string) bool {
		return code == 200 && status(body) == state
	})
	if code != 200 || status(body) != state {
		t.Fatalf("server %s on %s: %d %q, want %s", server, lb, code, status(body), state)
	}
}

// startLoad has client send requests to lb:80 one after another, each on
// a new connection, until stopLoad, logging each answer's status line.
func startLoad(t *testing.T, client, lb string) {
	t.Helper()
	pool.Sh(t, client, fmt.Sprintf(`cat > /tmp/load.sh <<'EOF'
while [ -e /tmp/load.on ]; do
  if exec 3<>/dev/tcp/%s/80; then
    printf 'GET / HTTP/1.0\r\nHost: lb\r\n\r\n' >&3
    timeout 10 cat <&3 | head -n 1 | tr -d '\r'
    exec 3<&-
  else
    echo "connection refused"
  fi
done >/tmp/load.log 2>&1
touch /tmp/load.done
EOF
rm -f /tmp/load.done; touch /tmp/load.on; (nohup bash /tmp/load.sh >/dev/null 2>&1 &)`, pool.IP(t, lb)))
}

// stopLoad stops startLoad's client and returns its answers.
func stopLoad(t *testing.T, client string) []string {
	t.Helper()
	out := pool.Sh(t, client, `rm /tmp/load.on; for i in $(seq 200); do [ -e /tmp/load.done ] && break; sleep 0.1; done; [ -e /tmp/load.done ] && cat /tmp/load.log`)
	return strings.Split(strings.TrimSpace(out), "\n")
}

// holdConnection has client open a connection to lb:80 and send its
// request on it only once lb refuses new connections (it drains), logging
// both to /tmp/held.log. It returns once the connection is open.
func holdConnection(t *testing.T, client, lb string) {
	t.Helper()
	pool.Sh(t, client, fmt.Sprintf(`cat > /tmp/held.sh <<'EOF'
exec 3<>/dev/tcp/%[1]s/80 || exit 1
echo connected
for i in $(seq 600); do
  if ! (exec 4<>/dev/tcp/%[1]s/80) 2>/dev/null; then echo "new connections refused"; break; fi
  sleep 0.2
done
printf 'GET / HTTP/1.0\r\nHost: lb\r\n\r\n' >&3
timeout 10 cat <&3 | tr -d '\r'
EOF
rm -f /tmp/held.done /tmp/held.log; (nohup sh -c 'bash /tmp/held.sh >/tmp/held.log 2>&1; touch /tmp/held.done' >/dev/null 2>&1 &)
for i in $(seq 100); do grep -q connected /tmp/held.log 2>/dev/null && exit 0; sleep 0.1; done; cat /tmp/held.log; exit 1`, pool.IP(t, lb)))
}
