package adhoc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// fakeDialer answers per host name; it counts connections in flight so the
// forks limit can be checked.
type fakeDialer struct {
	behave   map[string]func(ctx context.Context) (transport.Result, error)
	dialErr  map[string]error
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	closed   atomic.Int32
	mu       sync.Mutex
	cmds     []transport.Cmd
}

func (d *fakeDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if err := d.dialErr[h.Name]; err != nil {
		return nil, err
	}
	n := d.inFlight.Add(1)
	for {
		m := d.maxSeen.Load()
		if n <= m || d.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	return &fakeConn{d: d, host: h.Name}, nil
}

type fakeConn struct {
	d    *fakeDialer
	host string
}

func (c *fakeConn) Host() string { return c.host }
func (c *fakeConn) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	c.d.mu.Lock()
	c.d.cmds = append(c.d.cmds, cmd)
	c.d.mu.Unlock()
	if f := c.d.behave[c.host]; f != nil {
		return f(ctx)
	}
	time.Sleep(5 * time.Millisecond)
	return transport.Result{Stdout: []byte(c.host + "\n")}, nil
}
func (c *fakeConn) Upload(context.Context, io.Reader, transport.FileSpec) error { return nil }
func (c *fakeConn) Download(context.Context, string, io.Writer, bool) error     { return nil }
func (c *fakeConn) Close() error {
	c.d.inFlight.Add(-1)
	c.d.closed.Add(1)
	return nil
}

func hosts(names ...string) []*inventory.Host {
	var hs []*inventory.Host
	for _, n := range names {
		hs = append(hs, &inventory.Host{Name: n})
	}
	return hs
}

func TestRunOutcomes(t *testing.T) {
	d := &fakeDialer{
		behave: map[string]func(context.Context) (transport.Result, error){
			"fails": func(context.Context) (transport.Result, error) {
				return transport.Result{ExitStatus: 3, Stderr: []byte("boom")}, nil
			},
			"lost": func(context.Context) (transport.Result, error) {
				return transport.Result{}, &transport.HostError{Host: "lost", Op: "run", Err: transport.ErrUnreachable}
			},
			"sudo": func(context.Context) (transport.Result, error) {
				return transport.Result{}, &transport.HostError{Host: "sudo", Op: "run", Err: transport.ErrBecomeFailed}
			},
		},
		dialErr: map[string]error{
			"down":   &transport.HostError{Host: "down", Op: "connect", Err: transport.ErrUnreachable},
			"badkey": &transport.HostError{Host: "badkey", Op: "connect", Err: transport.ErrHostKeyMismatch},
		},
	}
	var done []string
	res := Run(context.Background(), d, hosts("ok", "fails", "lost", "sudo", "down", "badkey"),
		Options{Command: "uptime", Become: true}, func(r HostResult) { done = append(done, r.Host) })
	want := map[string]Status{"ok": StatusOK, "fails": StatusFailed, "lost": StatusUnreachable,
		"sudo": StatusFailed, "down": StatusUnreachable, "badkey": StatusUnreachable}
	for i, r := range res {
		if r.Host != hosts("ok", "fails", "lost", "sudo", "down", "badkey")[i].Name {
			t.Fatalf("results out of host order: %v", r.Host)
		}
		if r.Status != want[r.Host] {
			t.Errorf("%s: status %s, want %s (err %v)", r.Host, r.Status, want[r.Host], r.Err)
		}
	}
	if res[0].ExitStatus != 0 || string(res[0].Stdout) != "ok\n" {
		t.Errorf("ok host result = %+v", res[0])
	}
	if res[1].ExitStatus != 3 || string(res[1].Stderr) != "boom" {
		t.Errorf("failing host result = %+v", res[1])
	}
	if len(done) != 6 {
		t.Errorf("onDone called %d times, want 6", len(done))
	}
	if got := Count(res); got != (Totals{OK: 1, Failed: 2, Unreachable: 3}) {
		t.Errorf("totals = %+v", got)
	}
	if d.closed.Load() != 4 {
		t.Errorf("%d connections closed, want the 4 opened", d.closed.Load())
	}
	for _, c := range d.cmds {
		if c.Command != "uptime" || !c.Become {
			t.Errorf("command passed as %+v", c)
		}
	}
}

func TestForksLimit(t *testing.T) {
	d := &fakeDialer{}
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("h%d", i))
	}
	res := Run(context.Background(), d, hosts(names...), Options{Command: "true", Forks: 7}, nil)
	if got := d.maxSeen.Load(); got > 7 || got < 2 {
		t.Errorf("max hosts in flight = %d, want 2..7", got)
	}
	if Count(res).OK != 40 {
		t.Errorf("totals %+v", Count(res))
	}
}

func TestTimeout(t *testing.T) {
	d := &fakeDialer{behave: map[string]func(context.Context) (transport.Result, error){
		"slow": func(ctx context.Context) (transport.Result, error) {
			<-ctx.Done()
			return transport.Result{ExitStatus: -1}, ctx.Err()
		},
	}}
	res := Run(context.Background(), d, hosts("slow", "fast"), Options{Command: "sleep 100", Timeout: 20 * time.Millisecond}, nil)
	if res[0].Status != StatusFailed || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "timed out after 20ms") {
		t.Errorf("slow host = %+v", res[0])
	}
	if res[1].Status != StatusOK {
		t.Errorf("fast host = %+v", res[1])
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	d := &fakeDialer{behave: map[string]func(context.Context) (transport.Result, error){}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Run(ctx, d, hosts("a", "b", "c"), Options{Command: "true", Forks: 1}, nil)
	for _, r := range res {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("%s: %v", r.Host, r.Err)
		}
	}
}

func (d *fakeDialer) Check(*inventory.Host) error { return nil }
