package probe

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/testenv"
	"github.com/opsrun/opsrun/testenv/fleetssh"
)

// countingConn counts round trips on a real connection.
type countingConn struct {
	transport.Conn
	runs atomic.Int32
}

func (c *countingConn) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	c.runs.Add(1)
	return c.Conn.Run(ctx, cmd)
}

// TestIntegrationRun runs 50 probes (failing ones, odd output, ones only
// root can answer) through sudo on a real Debian host, in one round trip.
func TestIntegrationRun(t *testing.T) {
	fleet := testenv.New(t, testenv.Spec{Layers: []testenv.LayerCount{{Layer: "web", Count: 1}}})
	c := &countingConn{Conn: fleetssh.Dial(t, fleet, fleet.Hosts[0].Name)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	type expect struct {
		stdout string
		status int // -1: any non-zero
	}
	var probes []modules.Probe
	want := map[string]expect{}
	add := func(id, cmd, stdout string, status int) {
		probes = append(probes, modules.Probe{ID: id, Command: cmd})
		want[id] = expect{stdout, status}
	}
	add("uid", "id -u", "0\n", 0)
	add("whoami", "whoami", "root\n", 0)
	add("shadow", "test -r /etc/shadow && head -c 5 /etc/shadow", "root:", 0)
	add("hostname", "hostname", fleet.Hosts[0].Name+"\n", 0)
	add("sshd-active", "systemctl is-active ssh", "active\n", 0)
	add("sshd-pkg", "dpkg-query -W -f='${Status}' openssh-server", "install ok installed", 0)
	add("no-pkg", "dpkg-query -W -f='${Status}' opsrun-no-such-package", "", -1)
	add("no-file", "stat -c %s /nonexistent/opsrun", "", -1)
	add("exit-5", "exit 5", "", 5)
	add("binary", `printf '\000\377\nB 0\n'`, "\x00\xff\nB 0\n", 0)
	add("no-newline", "printf 'x'", "x", 0)
	add("stdin", "cat; echo done", "done\n", 0)
	add("syntax", "echo 'unterminated", "", -1)
	for len(probes) < 50 {
		i := len(probes)
		add(fmt.Sprintf("echo-%d", i), fmt.Sprintf("echo %d; exit %d", i, i%3), fmt.Sprintf("%d\n", i), i%3)
	}
	probes = append(probes, probes[0]) // a second resource asking for the same fact

	facts, err := Run(ctx, c, probes, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.runs.Load(); n != 1 {
		t.Errorf("%d round trips for %d probes, want 1", n, len(probes))
	}
	if len(facts) != 50 {
		t.Errorf("%d results, want 50", len(facts))
	}
	for id, w := range want {
		got := facts[id]
		if got.Stdout != w.stdout || (w.status == -1 && got.ExitStatus == 0) || (w.status >= 0 && got.ExitStatus != w.status) {
			t.Errorf("%s: got %q exit %d, want %q exit %d", id, got.Stdout, got.ExitStatus, w.stdout, w.status)
		}
	}

	// Without become the same probe answers as the login user.
	facts, err = Run(ctx, c, []modules.Probe{{ID: "uid", Command: "id -un"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(facts["uid"].Stdout); got != "opsrun" {
		t.Errorf("without become: id -un = %q, want opsrun", got)
	}
}
