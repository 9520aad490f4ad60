package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/watch"
	"github.com/opsrun/opsrun/testenv"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// TestWatchFleet runs `opsrun watch --once` over SSH against two real
// hosts, with the stdout sink and then the CloudWatch one (the local
// endpoint), and checks the figures against the hosts' own /proc.
func TestWatchFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker hosts")
	}
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "app", Count: 2}}, Init: "sshd"})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte("stack \"w\" {}\nlayer \"app\" {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	streams, out, errOut := testIO()
	code := Main([]string{"watch", dir, "-i", fleet.InventoryPath, "--ssh-config", "none", "--once", "--metrics-sink", "stdout"}, streams)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	got := map[string]map[string]float64{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("line %q is not INSTANCE METRIC VALUE", l)
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if got[f[0]] == nil {
			got[f[0]] = map[string]float64{}
		}
		got[f[0]][f[1]] = v
	}
	for _, name := range []string{"app-1", "app-2", "layer:app"} {
		m := got[name]
		if len(m) != 15 {
			t.Errorf("%s: %d metrics, want 15: %v", name, len(m), m)
		}
		for _, d := range (watch.Metrics{}).Datums() {
			if _, ok := m[d.Name]; !ok {
				t.Errorf("%s: no %s", name, d.Name)
			}
		}
		if m["load_1"] < 0 || m["procs"] < 1 || m["memory_total"] <= 0 {
			t.Errorf("%s: implausible %v", name, m)
		}
	}
	memTotal := func(host string) float64 {
		b, err := fleet.Exec(context.Background(), host, "awk", "/MemTotal/{print $2}", "/proc/meminfo")
		if err != nil {
			t.Fatal(err)
		}
		want, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		if err != nil {
			t.Fatal(err)
		}
		return want
	}
	for _, host := range []string{"app-1", "app-2"} {
		if want := memTotal(host); got[host]["memory_total"] != want {
			t.Errorf("%s: memory_total %v, the host says %v", host, got[host]["memory_total"], want)
		}
	}

	// The default sink: the same round reaches the local CloudWatch.
	srv := awsapi.New(nil)
	awsapi.Serve(t, srv)
	streams, out, errOut = testIO()
	if code := Main([]string{"watch", dir, "-i", fleet.InventoryPath, "--ssh-config", "none", "--once"}, streams); code != ExitOK {
		t.Fatalf("cloudwatch: exit %d\n%s%s", code, out, errOut)
	}
	pushed := map[string]map[string]float64{}
	for _, req := range srv.PutMetricDataRequests() {
		for _, d := range req {
			key := d.Dimensions["instance"]
			if key == "" {
				key = "layer:" + d.Dimensions["layer"]
			}
			if pushed[key] == nil {
				pushed[key] = map[string]float64{}
			}
			pushed[key][d.MetricName] = d.Value
		}
	}
	for _, key := range []string{"app-1", "app-2", "layer:app"} {
		if len(pushed[key]) != 15 || pushed[key]["load_1"] < 0 {
			t.Errorf("%s: pushed %v, want 15 plausible metrics", key, pushed[key])
		}
	}
	for _, host := range []string{"app-1", "app-2"} {
		if want := memTotal(host); pushed[host]["memory_total"] != want {
			t.Errorf("%s: pushed memory_total %v, the host says %v", host, pushed[host]["memory_total"], want)
		}
	}
}
