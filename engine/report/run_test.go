package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/compile"
	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
)

func runEvents() []run.Event {
	return []run.Event{
		{Type: run.TypeRunStart, Stack: "hello", Event: "setup", Hosts: 2},
		{Type: run.TypeTask, Host: "web-1", Layer: "web", Resource: "package.nginx", Status: run.StatusChanged, Actions: []string{"install nginx"}},
		{Type: run.TypeTask, Host: "web-1", Layer: "web", Resource: "file.index", Status: run.StatusChanged, Actions: []string{"write /x"}, Diffs: []string{"--- a\n+++ b\n-old\n+new\n"}},
		{Type: run.TypeTask, Host: "web-2", Layer: "web", Resource: "package.nginx", Status: run.StatusOK},
		{Type: run.TypeTask, Host: "web-2", Layer: "web", Resource: "file.index", Status: run.StatusFailed, Error: "web-2: file.index: exit status 1: disk full"},
		{Type: run.TypeTask, Host: "web-1", Layer: "web", Resource: "service.nginx", Handler: true, Status: run.StatusChanged, Actions: []string{"restart nginx"}},
		{Type: run.TypeTask, Host: "web-1", Layer: "web", Resource: "command.migrate", Status: run.StatusIgnored, Error: "exit status 2", Attempts: 3},
		{Type: run.TypeTask, Host: "web-1", Layer: "web", Resource: "command.build", Status: run.StatusChanged, Actions: []string{"run `make`"}, Output: "cc -o app\nbuilt app"},
		{Type: run.TypeHostRecap, Host: "web-1", Counts: &run.Counts{Changed: 3}},
		{Type: run.TypeHostRecap, Host: "web-2", Counts: &run.Counts{OK: 1, Failed: 1}, Error: "web-2: file.index: exit status 1: disk full"},
		{Type: run.TypeRunEnd, Event: "setup", Counts: &run.Counts{OK: 1, Changed: 3, Failed: 1}, DurationMS: 1500},
	}
}

func TestRunText(t *testing.T) {
	var out, errOut bytes.Buffer
	p := NewRunText(&out, &errOut, false, false, false)
	for _, e := range runEvents() {
		p.Emit(e)
	}
	want := `setup on 2 hosts of stack hello
web-1        web        changed      package.nginx: install nginx
web-1        web        changed      file.index: write /x
web-2        web        failed       file.index: web-2: file.index: exit status 1: disk full
web-1        web        changed      service.nginx (notified): restart nginx
web-1        web        ignored      command.migrate: exit status 2 (ignored: ignore_errors = true) (after 3 attempts)
web-1        web        changed      command.build: run ` + "`make`" + `
    | cc -o app
    | built app

RECAP setup (1.5s)
HOST   OK  CHANGED  FAILED  SKIPPED  UNREACHABLE
web-1  0   3        0       0        no
web-2  1   0        1       0        no
error: web-2: file.index: exit status 1: disk full
ok=1 changed=3 failed=1 skipped=0 unreachable=0
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if errOut.Len() != 0 {
		t.Errorf("no progress off a terminal, got %q", errOut.String())
	}
}

func TestPlanText(t *testing.T) {
	var out, errOut bytes.Buffer
	p := NewRunText(&out, &errOut, true, true, true)
	for _, e := range runEvents() {
		if e.Type == run.TypeRunStart {
			e.Check = true
		}
		p.Emit(e)
	}
	got := out.String()
	for _, want := range []string{
		"web-1:\n  ~ package.nginx: install nginx\n  ~ file.index: write /x\n      --- a\n      +++ b\n      -old\n      +new\n",
		"web-2:\n  ! file.index: web-2: file.index: exit status 1: disk full\n",
		"Plan (setup): 3 to change, 1 already right, 0 skipped, 1 failed, on 2 hosts.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan output lacks %q:\n%s", want, got)
		}
	}
}

func TestRunJSON(t *testing.T) {
	var out bytes.Buffer
	p := NewRunJSON(&out)
	for _, e := range runEvents() {
		p.Emit(e)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(runEvents()) {
		t.Fatalf("%d lines", len(lines))
	}
	var end map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &end); err != nil {
		t.Fatal(err)
	}
	if end["type"] != "run_end" || end["ok"] != 1.0 || end["changed"] != 3.0 || end["failed"] != 1.0 || end["skipped"] != 0.0 || end["unreachable"] != 0.0 {
		t.Errorf("run_end = %v", end)
	}
	var task map[string]any
	json.Unmarshal([]byte(lines[1]), &task)
	if task["type"] != "task" || task["host"] != "web-1" || task["status"] != "changed" || task["resource"] != "package.nginx" {
		t.Errorf("task = %v", task)
	}
	if _, has := task["ok"]; has {
		t.Errorf("a task event carries no counts: %v", task)
	}
}

func TestRunProgressOnTTY(t *testing.T) {
	var out, errOut bytes.Buffer
	p := NewRunText(&out, &errOut, true, false, false)
	p.Planned(&compile.Plan{Levels: [][]*compile.LayerPlan{{
		{Layer: &stack.Layer{Name: "web"}, Hosts: []*compile.HostPlan{{Tasks: make([]*compile.Task, 2)}, {Tasks: make([]*compile.Task, 2)}}},
	}}})
	for _, e := range runEvents() {
		p.Emit(e)
	}
	if !strings.Contains(errOut.String(), "web [###---------] 1/4") {
		t.Errorf("progress: %q", errOut.String())
	}
	// The bar is erased before the recap, so stdout stays clean.
	if !strings.HasSuffix(errOut.String(), "\r\x1b[K") || strings.Contains(out.String(), "\x1b") {
		t.Errorf("progress not cleared: %q", errOut.String())
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 hosts", 1: "1 host", 2: "2 hosts"} {
		if got := Plural(n, "host"); got != want {
			t.Errorf("Plural(%d) = %q, want %q", n, got, want)
		}
	}
}
