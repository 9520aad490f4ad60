// Package shop runs the OpsWorks flow end to end on examples/shop: an
// HAProxy load balancer, app instances counting visits in MariaDB, a
// worker, and instances joining and leaving under load.
package shop

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

var pool *playtest.Pool

func TestMain(m *testing.M) { os.Exit(playtest.Main(m, &pool, "shop", 6)) }

// example reads examples/shop's files.
func example(t *testing.T) map[string]string {
	t.Helper()
	root := filepath.Join("..", "..", "..", "examples", "shop")
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() && (d.Name() == ".opsrun" || d.Name() == "__pycache__") {
				return filepath.SkipDir
			}
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// answers makes n requests through the load balancer and counts which app
// instance answered each.
func answers(t *testing.T, lb string, n int) map[string]int {
	t.Helper()
	out := pool.Sh(t, lb, "for i in $(seq "+strconv.Itoa(n)+"); do curl -sf http://localhost/ || echo FAILED; done")
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		host := "FAILED"
		if rest, ok := strings.CutPrefix(line, "Hello from "); ok {
			host, _, _ = strings.Cut(rest, ":")
		}
		seen[host]++
	}
	return seen
}

// answersFrom repeats answers until every one of hosts has answered or
// 30 s pass, and returns the last count.
func answersFrom(t *testing.T, lb string, hosts ...string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := answers(t, lb, 12)
		all := true
		for _, h := range hosts {
			all = all && seen[h] > 0
		}
		if all || time.Now().After(deadline) {
			return seen
		}
		time.Sleep(time.Second)
	}
}

func TestShopFlow(t *testing.T) {
	h := pool.Take(t, 6)
	lb, app1, app2, app3, db, worker := h[0], h[1], h[2], h[3], h[4], h[5]
	first := map[string][]string{"lb": {lb}, "app": {app1, app2}, "db": {db}, "worker": {worker}}
	s := pool.NewStack(t, example(t), first)
	s.Up()
	s.Deploy("shop")
	s.Deploy("shopworker")

	// Both app instances answer through the load balancer, sharing the
	// database's visit count — once HAProxy's health checks have seen the
	// last deployed instance up (rise 2, every 2 s).
	seen := answersFrom(t, lb, app1, app2)
	if seen[app1] == 0 || seen[app2] == 0 || seen["FAILED"] > 0 {
		t.Fatalf("through the LB: %v", seen)
	}

	// A third app instance joins: setup, the shop's release, and
	// configure everywhere — the LB routes to it and the DB grants it.
	all := map[string][]string{"lb": {lb}, "app": {app1, app2, app3}, "db": {db}, "worker": {worker}}
	s.Load(all)
	s.Up()
	seen = answersFrom(t, lb, app1, app2, app3)
	if seen[app3] == 0 || seen["FAILED"] > 0 {
		t.Fatalf("after app-3 joined: %v", seen)
	}
	grants := pool.Sh(t, db, "mysql -N -e \"SELECT host FROM mysql.user WHERE user = 'shop' ORDER BY host\"")
	if !strings.Contains(grants, pool.IP(t, app3)) {
		t.Errorf("no grant for %s (%s): %s", app3, pool.IP(t, app3), grants)
	}

	// app-3 leaves while a client sends requests without pause: its
	// shutdown, then configure everywhere. Not one request may fail.
	pool.Sh(t, lb, `rm -f /tmp/stop /tmp/codes; nohup sh -c 'while [ ! -e /tmp/stop ]; do curl -s -o /dev/null -w "%{http_code}\n" http://localhost/ >> /tmp/codes; done' >/dev/null 2>&1 &`)
	// The loop is going before the instance leaves.
	pool.Sh(t, lb, "for i in $(seq 100); do [ $(wc -l < /tmp/codes 2>/dev/null || echo 0) -ge 5 ] && exit 0; sleep 0.1; done; exit 1")
	s.Load(first)
	s.Up()
	pool.Sh(t, lb, "touch /tmp/stop; sleep 1")
	codes := strings.Fields(pool.Sh(t, lb, "cat /tmp/codes"))
	var bad []string
	for i, c := range codes {
		if c != "200" {
			bad = append(bad, fmt.Sprintf("#%d: %s", i+1, c))
		}
	}
	if len(codes) < 20 || len(bad) > 0 {
		t.Errorf("%d requests during the removal, not 200: %v", len(codes), bad)
	}
	seen = answers(t, lb, 12)
	if seen[app3] > 0 || seen["FAILED"] > 0 || seen[app1] == 0 || seen[app2] == 0 {
		t.Errorf("after app-3 left: %v", seen)
	}
	grants = pool.Sh(t, db, "mysql -N -e \"SELECT host FROM mysql.user WHERE user = 'shop' ORDER BY host\"")
	if strings.Contains(grants, pool.IP(t, app3)) {
		t.Errorf("app-3's grant kept after it left: %s", grants)
	}
	if pool.Sh(t, app3, "systemctl is-active opsrun-shop || true") != "inactive\n" {
		t.Errorf("app-3's app still runs after its shutdown")
	}
}
