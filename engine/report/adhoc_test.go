package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/adhoc"
)

var results = []adhoc.HostResult{
	{Host: "web-1", Status: adhoc.StatusOK, ExitStatus: 0, Stdout: []byte("one\ntwo"), Duration: 120 * time.Millisecond},
	{Host: "web-2", Status: adhoc.StatusFailed, ExitStatus: 4, Stderr: []byte("bad\n"), Duration: 2 * time.Second},
	{Host: "db-1", Status: adhoc.StatusUnreachable, ExitStatus: -1, Err: errors.New("db-1: connect: host unreachable"), Duration: 3 * time.Second},
}

func TestAdhocText(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var out, errOut bytes.Buffer
		p := NewAdhocText(&out, &errOut, tty, len(results))
		for _, r := range results {
			p.HostDone(r)
		}
		p.Finish(results, 3*time.Second)
		want := `=== web-1: ok (exit 0, 120ms)
one
two
=== web-2: failed (exit 4, 2s)
--- stderr
bad
=== db-1: unreachable (3s)
error: db-1: connect: host unreachable

RECAP
HOST   STATUS       EXIT  TIME
web-1  ok           0     120ms
web-2  failed       4     2s
db-1   unreachable  -     3s
3 hosts: 1 ok, 1 failed, 1 unreachable in 3s
`
		if out.String() != want {
			t.Errorf("tty=%v: got\n%s\nwant\n%s", tty, out.String(), want)
		}
		// The progress bar goes to stderr, and only on a terminal.
		if tty != (errOut.Len() > 0) {
			t.Errorf("tty=%v: progress output %q", tty, errOut.String())
		}
	}
}

func TestAdhocJSON(t *testing.T) {
	var out bytes.Buffer
	p := NewAdhocJSON(&out)
	for _, r := range results {
		p.HostDone(r)
	}
	p.Finish(results, time.Second)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	var j AdhocJSON
	if err := json.Unmarshal([]byte(lines[1]), &j); err != nil {
		t.Fatal(err)
	}
	if j.Host != "web-2" || j.Status != "failed" || *j.ExitStatus != 4 || j.Stderr != "bad\n" || j.DurationMS != 2000 {
		t.Errorf("%+v", j)
	}
	if !strings.Contains(lines[2], `"exit_status":null`) {
		t.Errorf("unreachable host must have a null exit status: %s", lines[2])
	}
}
