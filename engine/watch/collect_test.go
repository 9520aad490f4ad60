package watch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/inventory"
)

// memTotal reads this machine's MemTotal (KiB) straight from /proc.
func memTotal(t *testing.T) float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Skip("no /proc/meminfo:", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// downDialer reaches the local machine except for the hosts named down.
type downDialer struct {
	local.Dialer
	down string
}

func (d downDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if h.Name == d.down {
		return nil, &transport.HostError{Host: h.Name, Op: "connect", Err: fmt.Errorf("dial tcp: connection refused: %w", transport.ErrUnreachable)}
	}
	return d.Dialer.Dial(ctx, h)
}

func TestCollectLocal(t *testing.T) {
	total := memTotal(t)
	hosts := []*inventory.Host{
		{Name: "a", Layers: []string{"app"}},
		{Name: "b", Layers: []string{"app", "db"}},
		{Name: "gone", Layers: []string{"db"}},
	}
	res := Collect(context.Background(), downDialer{down: "gone"}, hosts, Options{Forks: 2})
	if len(res) != 3 {
		t.Fatalf("%d results", len(res))
	}
	for _, r := range res[:2] {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Host.Name, r.Err)
		}
		m := r.Metrics
		if m.MemoryTotal != total {
			t.Errorf("%s: memory_total %v, want this machine's %v", r.Host.Name, m.MemoryTotal, total)
		}
		if m.Load1 < 0 || m.Load5 < 0 || m.Load15 < 0 || m.Procs < 1 {
			t.Errorf("%s: %+v", r.Host.Name, m)
		}
		// Steal time (a busy VM host) is outside the five, so allow slack.
		if sum := m.CPUIdle + m.CPUNice + m.CPUSystem + m.CPUUser + m.CPUWaitIO; math.Abs(sum-100) > 10 {
			t.Errorf("%s: cpu_* sum %v, want ~100", r.Host.Name, sum)
		}
		if m.MemoryUsed <= 0 || m.MemoryUsed > total || m.MemoryFree > total {
			t.Errorf("%s: memory %+v", r.Host.Name, m)
		}
	}
	if r := res[2]; !errors.Is(r.Err, transport.ErrUnreachable) || r.Host.Name != "gone" {
		t.Errorf("gone: %+v", r)
	}

	layers := Aggregate(res)
	if len(layers) != 2 || layers[0].Layer != "app" || layers[0].Instances != 2 || layers[1].Layer != "db" || layers[1].Instances != 1 {
		t.Fatalf("layers %+v", layers)
	}
	if layers[1].Metrics != res[1].Metrics {
		t.Errorf("db's one answering instance is b: %+v vs %+v", layers[1].Metrics, res[1].Metrics)
	}
	if layers[0].Metrics.MemoryTotal != total {
		t.Errorf("app average memory_total %v", layers[0].Metrics.MemoryTotal)
	}
}

func TestAggregateAverages(t *testing.T) {
	h := func(name string, layers ...string) *inventory.Host {
		return &inventory.Host{Name: name, Layers: layers}
	}
	res := []Result{
		{Host: h("a", "web"), Metrics: Metrics{CPUUser: 10, Load1: 1, MemoryTotal: 100, Procs: 10}},
		{Host: h("b", "web"), Metrics: Metrics{CPUUser: 30, Load1: 3, MemoryTotal: 300, Procs: 20}},
		{Host: h("c", "web", "lonely"), Err: transport.ErrUnreachable},
	}
	got := Aggregate(res)
	want := LayerMetrics{Layer: "web", Instances: 2, Metrics: Metrics{CPUUser: 20, Load1: 2, MemoryTotal: 200, Procs: 15}}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %+v, want only %+v", got, want)
	}
}

func TestCollectNoProc(t *testing.T) {
	// A command failing on the host (no /proc) is an ErrParse naming it.
	res := Collect(context.Background(), noProcDialer{}, []*inventory.Host{{Name: "bsd"}}, Options{})
	if err := res[0].Err; !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), "bsd") {
		t.Errorf("err %v", err)
	}
}

type noProcDialer struct{ local.Dialer }

func (noProcDialer) Dial(_ context.Context, h *inventory.Host) (transport.Conn, error) {
	return noProcConn{&local.Conn{Name: h.Name}}, nil
}

type noProcConn struct{ *local.Conn }

func (c noProcConn) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	cmd.Command = "echo 'sh: /proc/stat: No such file' >&2; exit 2"
	return c.Conn.Run(ctx, cmd)
}

func TestCollectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Collect(ctx, local.Dialer{}, []*inventory.Host{{Name: "a"}}, Options{})
	if !errors.Is(res[0].Err, context.Canceled) {
		t.Errorf("err %v", res[0].Err)
	}
}
