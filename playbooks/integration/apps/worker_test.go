package apps

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// workerScript appends a line a second naming its worker and the release
// it runs in.
const workerScript = `#!/bin/sh
while true; do
  echo "WORKER=$WORKER release=$(basename $(readlink -f .))" >> "$LOG"
  sleep 1
done
`

// workerStack runs worker.sh as processes workers, each given
// stopTimeout seconds to stop. The command has a
// dollar sign and a percent sign, which systemd would read itself unless
// the layer escaped them.
func workerStack(processes, stopTimeout int) string {
	return fmt.Sprintf(`
app "jobs" {
  layers      = ["front"]
  environment = { LOG = "/var/tmp/jobs.log" }
  build       = "chmod +x worker.sh"
  source {
    path = "app"
  }
}

layer "front" {
  use      = "worker"
  settings = {
    processes    = %d
    command      = "echo \"start $WORKER 100%%\" >> \"$LOG\"; exec ./worker.sh"
    stop_timeout = %d
  }
}
`, processes, stopTimeout)
}

// TestWorker runs an app as two supervised workers, deploys a new
// release (both workers move to it), then lowers processes to one and
// stop_timeout, which configure applies to the worker left.
func TestWorker(t *testing.T) {
	t.Parallel()
	host := pool.Take(t, 1)[0]
	layers := map[string][]string{"front": {host}}
	s := pool.NewStack(t, map[string]string{"stack.hcl": workerStack(2, 10), "app/worker.sh": workerScript}, layers)
	s.Converge("jobs")
	r1 := release(t, host)
	for _, w := range []string{"1", "2"} {
		unit := "opsrun-jobs-worker@" + w
		if out := pool.Sh(t, host, "systemctl is-active "+unit+"; systemctl is-enabled "+unit+"; true"); out != "active\nenabled\n" {
			t.Errorf("%s: %q, want active and enabled", unit, out)
		}
		if u := processUser(t, host, mainPID(t, host, unit)); u != "www-data" {
			t.Errorf("%s runs as %q, want www-data", unit, u)
		}
		waitLog(t, host, "WORKER="+w+" release="+r1)
		waitLog(t, host, "start "+w+" 100%")
	}
	if out := pool.Sh(t, host, "systemctl list-units --plain --no-legend --state=active 'opsrun-jobs-worker@*' | wc -l"); strings.TrimSpace(out) != "2" {
		t.Errorf("%s workers run, want 2", strings.TrimSpace(out))
	}

	write(t, s, "app/worker.sh", workerScript+"# v2\n")
	s.Deploy("jobs")
	r2 := release(t, host)
	if r2 == r1 {
		t.Fatalf("the second deploy left release %s current", r1)
	}
	for _, w := range []string{"1", "2"} {
		waitLog(t, host, "WORKER="+w+" release="+r2)
	}

	pid := mainPID(t, host, "opsrun-jobs-worker@1")
	write(t, s, "stack.hcl", workerStack(1, 5))
	s.Load(layers)
	if o := s.Run("configure"); o.Totals.Changed == 0 {
		t.Error("configure with 1 process changed nothing")
	}
	if now := mainPID(t, host, "opsrun-jobs-worker@1"); now == pid {
		t.Errorf("worker 1 was not restarted with the new unit (pid %s)", pid)
	}
	if out := pool.Sh(t, host, "systemctl show --value -p TimeoutStopUSec opsrun-jobs-worker@1"); out != "5s\n" {
		t.Errorf("worker 1 stops within %q, want 5s", out)
	}
	if out := pool.Sh(t, host, "systemctl is-active opsrun-jobs-worker@1; systemctl is-active opsrun-jobs-worker@2; systemctl is-enabled opsrun-jobs-worker@2; true"); out != "active\ninactive\ndisabled\n" {
		t.Errorf("after lowering processes to 1: worker 1, worker 2, worker 2 at boot: %q", out)
	}
	if o := s.Run("configure"); o.Totals.Changed != 0 {
		t.Errorf("configure again changed %d resources: %s", o.Totals.Changed, o.Changed())
	}

	s.Run("undeploy")
	if out := pool.Sh(t, host, "systemctl list-units --plain --no-legend --state=active 'opsrun-jobs-worker@*'; ls /etc/systemd/system/multi-user.target.wants /etc/systemd/system | grep opsrun-jobs; true"); out != "" {
		t.Errorf("after undeploy, workers run or their units are left: %q", out)
	}
}

// release is the release current points to on host.
func release(t *testing.T, host string) string {
	t.Helper()
	return strings.TrimSpace(pool.Sh(t, host, "basename $(readlink -f /srv/jobs/current)"))
}

// waitLog waits up to 20 s for a line of the workers' log.
func waitLog(t *testing.T, host, line string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pool.Sh(t, host, "grep -qxF '"+line+"' /var/tmp/jobs.log 2>/dev/null && echo found; true") == "found\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no line %q in the workers' log:\n%s", host, line, pool.Sh(t, host, "tail -n 20 /var/tmp/jobs.log; journalctl --no-pager -n 20 -u 'opsrun-jobs-worker@*'"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}
