package web

import (
	"strings"
	"testing"
)

// TestMonitoring serves the host's metrics, then moves them to another
// port with a collector turned off.
func TestMonitoring(t *testing.T) {
	t.Parallel()
	hosts := pool.Take(t, 2)
	mon, client := hosts[0], hosts[1]
	layers := map[string][]string{"metrics": {mon}, "client": {client}}
	s := pool.NewStack(t, map[string]string{"stack.hcl": `
layer "metrics" {
  use = "monitoring"
}
layer "client" {}
`}, layers)
	s.Converge()
	code, body := pool.GetUntil(t, client, mon, 9100, "/metrics", func(code int, _ string) bool { return code == 200 })
	if code != 200 || !strings.Contains(body, "\nnode_load1 ") {
		t.Errorf("GET :9100/metrics: %d, node_load1 in it: %v", code, strings.Contains(body, "\nnode_load1 "))
	}

	// port and flags: the exporter restarts on its new command line.
	if err := writeStack(s, `
layer "metrics" {
  use      = "monitoring"
  settings = { port = 9101, flags = ["--no-collector.loadavg"] }
}
layer "client" {}
`); err != nil {
		t.Fatal(err)
	}
	s.Load(layers)
	if o := s.Run("configure"); !changed(o, mon, "service.node_exporter") {
		t.Errorf("configure with another port did not restart the exporter: %s", o.Changed())
	}
	code, body = pool.GetUntil(t, client, mon, 9101, "/metrics", func(code int, _ string) bool { return code == 200 })
	if code != 200 || !strings.Contains(body, "\nnode_memory_MemTotal_bytes ") || strings.Contains(body, "\nnode_load1 ") {
		t.Errorf("GET :9101/metrics with --no-collector.loadavg: %d, node_memory_MemTotal_bytes in it: %v, node_load1 in it: %v",
			code, strings.Contains(body, "\nnode_memory_MemTotal_bytes "), strings.Contains(body, "\nnode_load1 "))
	}
	if code, _ := pool.Get(t, client, mon, 9100, "/metrics"); code != 0 {
		t.Errorf("GET :9100/metrics after the move: %d, want no answer", code)
	}
}
