package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/run"
)

// The shared meta-arguments over SSH with sudo: a timeout kills the remote
// command, ignore_errors lets the host go on, retries try again.
func TestResourceOptions(t *testing.T) {
	Sh(t, "rm -rf /srv/it-options")
	start := time.Now()
	o := Run(t, `
    directory "d" {
      path = "/srv/it-options"
    }
    command "stuck" {
      command       = "sleep 77"
      timeout       = "1s"
      ignore_errors = true
    }
    command "flaky" {
      command     = "if [ -e /srv/it-options/tried ]; then touch /srv/it-options/done; else touch /srv/it-options/tried; exit 1; fi"
      creates     = "/srv/it-options/done"
      retries     = 1
      retry_delay = "100ms"
    }`, nil, false)
	if d := time.Since(start); d > 60*time.Second {
		t.Fatalf("the run took %s: the timeout did not stop the command", d)
	}
	ev := map[string]run.Event{}
	for _, e := range o.Events {
		ev[e.Resource] = e
	}
	if e := ev["command.stuck"]; e.Status != run.StatusIgnored || !strings.Contains(e.Error, "timed out after 1s") {
		t.Errorf("stuck: %+v", e)
	}
	if e := ev["command.flaky"]; e.Status != run.StatusChanged || e.Attempts != 2 {
		t.Errorf("flaky: %+v", e)
	}
	if o.Totals.Failed != 0 || o.Totals.Ignored != 1 {
		t.Errorf("totals %+v", o.Totals)
	}
	// The timed-out command was killed on the host, not left running.
	// /proc rather than ps: the image has no procps.
	if ps := Sh(t, `for c in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$c"; echo; done 2>/dev/null | grep '^sleep 77' || true`); ps != "" {
		t.Errorf("sleep still running on the host:\n%s", ps)
	}
	Sh(t, "rm -rf /srv/it-options")
}
