package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// flaky fails on its first try and leaves a marker, so a retry succeeds.
type flaky struct{ path string }

func (r flaky) Probes(*modules.Host) []modules.Probe { return nil }
func (r flaky) Plan(*modules.Host, modules.Facts) ([]modules.Action, error) {
	p := transport.ShellQuote(r.path)
	return []modules.Action{{Summary: "flake", Command: "if [ -e " + p + " ]; then echo again >> " + p + "; else echo once > " + p + "; echo first try fails >&2; exit 1; fi"}}, nil
}

// slow takes longer than any timeout of the tests.
type slow struct{}

func (slow) Probes(*modules.Host) []modules.Probe { return nil }
func (slow) Plan(*modules.Host, modules.Facts) ([]modules.Action, error) {
	return []modules.Action{{Summary: "sleep", Command: "sleep 30"}}, nil
}

// diffy always changes, showing its text in a diff and failing with it
// on stderr when the text says so.
type diffy struct{ text string }

func (diffy) Probes(*modules.Host) []modules.Probe { return nil }
func (r diffy) Plan(*modules.Host, modules.Facts) ([]modules.Action, error) {
	// The shell's own command line is what ps shows on the host.
	cmd := "tr '\\0' ' ' < /proc/$$/cmdline > " + transport.ShellQuote(r.text+".cmdline") + "; cat >> " + transport.ShellQuote(r.text+".cmdline")
	if strings.HasPrefix(r.text, "fail") {
		cmd = "echo " + transport.ShellQuote(r.text) + " >&2; exit 3"
	}
	return []modules.Action{{Summary: "write", Diff: "+" + r.text + "\n", Command: cmd}}, nil
}

func taskEvents(events []Event) map[string]Event {
	out := map[string]Event{}
	for _, e := range events {
		if e.Type == TypeTask {
			k := e.Resource
			if e.Handler {
				k += " (handler)"
			}
			out[k] = e
		}
	}
	return out
}

func TestRetries(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    flaky "retried" {
      path        = "${var.dir}/retried"
      retries     = 2
      retry_delay = 0
    }
    flaky "once" {
      path = "${var.dir}/once"
    }
  }
}
`, "h1")
	res, events := f.run(t, "setup", false, 0)
	ev := taskEvents(events)
	if e := ev["flaky.retried"]; e.Status != StatusChanged || e.Attempts != 2 {
		t.Errorf("retried: %+v, want changed after 2 attempts", e)
	}
	if b, _ := os.ReadFile(filepath.Join(f.dir, "retried")); string(b) != "once\nagain\n" {
		t.Errorf("retried ran %q, want the failed try then one more", b)
	}
	if e := ev["flaky.once"]; e.Status != StatusFailed || e.Attempts != 0 || !strings.Contains(e.Error, "first try fails") {
		t.Errorf("without retries: %+v, want failed on the first try with its stderr", e)
	}
	if res.Totals.Failed != 1 {
		t.Errorf("totals %+v", res.Totals)
	}
}

func TestTimeoutAndIgnoreErrors(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    slow "stuck" {
      timeout       = "300ms"
      ignore_errors = true
    }
    touch "after" {
      path = "${var.dir}/after"
    }
    slow "stuck_again" {
      timeout = 0.3
    }
    touch "never" {
      path = "${var.dir}/never"
    }
  }
}
`, "h1")
	start := time.Now()
	res, events := f.run(t, "setup", false, 0)
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("timeouts did not stop the commands: the run took %s", d)
	}
	ev := taskEvents(events)
	if e := ev["slow.stuck"]; e.Status != StatusIgnored || !strings.Contains(e.Error, "timed out after 300ms") {
		t.Errorf("stuck: %+v, want ignored with a timeout error", e)
	}
	if e := ev["touch.after"]; e.Status != StatusChanged {
		t.Errorf("an ignored failure must let the host go on: %+v", e)
	}
	if e := ev["slow.stuck_again"]; e.Status != StatusFailed || !strings.Contains(e.Error, "timed out") {
		t.Errorf("stuck_again: %+v, want failed with a timeout", e)
	}
	if e := ev["touch.never"]; e.Status != StatusSkipped {
		t.Errorf("a failure stops the host: %+v", e)
	}
	if want := (Counts{Changed: 1, Failed: 1, Skipped: 1, Ignored: 1}); res.Totals != want {
		t.Errorf("totals %+v, want %+v", res.Totals, want)
	}
	if !errors.Is(res.Hosts[0].Err, ErrTimeout) {
		t.Errorf("host error %v does not wrap ErrTimeout", res.Hosts[0].Err)
	}
}

func TestSensitiveResourceHidesDiffAndOutput(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    diffy "shown" {
      text = "${var.dir}/plain-text"
    }
    diffy "hidden" {
      text      = "${var.dir}/s3cret-diff"
      sensitive = true
    }
    diffy "hidden_failure" {
      text      = "fail-s3cret-output"
      sensitive = true
    }
  }
}
`, "h1")
	_, events := f.run(t, "setup", false, 0)
	ev := taskEvents(events)
	if d := ev["diffy.shown"].Diffs; len(d) != 1 || !strings.Contains(d[0], "plain-text") {
		t.Errorf("diff of a plain resource: %q", d)
	}
	for _, e := range events {
		all := strings.Join(e.Diffs, "") + e.Error + strings.Join(e.Actions, "")
		if strings.Contains(all, "s3cret") {
			t.Errorf("sensitive value in event %+v", e)
		}
	}
	if e := ev["diffy.hidden_failure"]; e.Status != StatusFailed || !strings.Contains(e.Error, "output hidden") {
		t.Errorf("hidden failure: %+v", e)
	}
	// A sensitive command is not on the host's command lines, and reads
	// an empty stdin; a plain one runs as sh -c COMMAND.
	if b, _ := os.ReadFile(filepath.Join(f.dir, "s3cret-diff.cmdline")); !strings.HasPrefix(string(b), "sh -c ") || strings.Contains(string(b), "s3cret") {
		t.Errorf("sensitive command ran as %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(f.dir, "plain-text.cmdline")); !strings.Contains(string(b), "plain-text") {
		t.Errorf("plain command ran as %q", b)
	}
}

func TestNotifyNowAndChainedHandlers(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    touch "a" {
      path       = "${var.dir}/a"
      notify_now = [counter.now]
    }
    touch "b" {
      path   = "${var.dir}/b"
      notify = [counter.now]
    }
    counter "now" {
      path   = "${var.dir}/now"
      notify = [counter.chained]
    }
    counter "chained" {
      path = "${var.dir}/chained"
    }
  }
}
`, "h1")
	count := func(name string) int {
		b, _ := os.ReadFile(filepath.Join(f.dir, name))
		return strings.Count(string(b), "x")
	}
	_, events := f.run(t, "setup", false, 0)
	var order []string
	for _, e := range events {
		if e.Type == TypeTask && e.Status == StatusChanged {
			k := e.Resource
			if e.Handler {
				k += "!"
			}
			order = append(order, k)
		}
	}
	// a changes and restarts now at once; b changes after it, so now runs
	// again at the end, and chained once, after now's last run.
	want := "touch.a counter.now! touch.b counter.now! counter.chained!"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if count("now") != 2 || count("chained") != 1 {
		t.Errorf("now ran %d times, chained %d", count("now"), count("chained"))
	}
	// Nothing changes: no handler runs.
	f.run(t, "setup", false, 0)
	if count("now") != 2 || count("chained") != 1 {
		t.Errorf("second run ran handlers: now %d, chained %d", count("now"), count("chained"))
	}
}

// talk prints numbered lines, to stdout and one to stderr, and shows its
// output as command and script do.
type talk struct{ lines int }

func (talk) Probes(*modules.Host) []modules.Probe { return nil }
func (r talk) Plan(*modules.Host, modules.Facts) ([]modules.Action, error) {
	return []modules.Action{{Summary: "talk", Output: true,
		Command: fmt.Sprintf("i=1; while [ $i -le %d ]; do echo line $i; i=$((i+1)); done; echo to-stderr >&2", r.lines)}}, nil
}

func TestCommandOutputKept(t *testing.T) {
	f := load(t, header+`
layer "web" {
  on "setup" {
    talk "short" {
      lines = 2
    }
    talk "long" {
      lines = 50
    }
    talk "secret" {
      lines     = 1
      sensitive = true
    }
    touch "quiet" {
      path = "${var.dir}/quiet"
    }
  }
}
`, "h1")
	_, events := f.run(t, "setup", false, 0)
	ev := taskEvents(events)
	if got := ev["talk.short"].Output; got != "line 1\nline 2\nto-stderr" {
		t.Errorf("short output %q", got)
	}
	long := strings.Split(ev["talk.long"].Output, "\n")
	if len(long) != maxOutputLines || long[0] != "line 32" || long[len(long)-1] != "to-stderr" {
		t.Errorf("long output keeps %d lines from %q", len(long), long[0])
	}
	if got := ev["talk.secret"].Output; got != "(output hidden: the resource is sensitive)" {
		t.Errorf("sensitive output %q", got)
	}
	if got := ev["touch.quiet"].Output; got != "" {
		t.Errorf("a resource that does not show output showed %q", got)
	}
}
