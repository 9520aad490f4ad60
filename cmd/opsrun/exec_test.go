package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/report"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

func testIO() (IO, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

func TestExecFlags(t *testing.T) {
	streams, _, _ := testIO()
	f := &Factory{IO: streams}
	var got *ExecOptions
	cmd := NewCmdExec(f, func(o *ExecOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"-i", "a.hcl", "-i", "b.hcl", "--hosts", "web", "--forks", "7", "--become", "--timeout", "3s", "-o", "json", "--", "echo", "hi there"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Inventories, ",") != "a.hcl,b.hcl" || got.Hosts != "web" || got.Forks != 7 ||
		!got.Become || got.Timeout != 3*time.Second || got.Output != "json" || got.Command != "echo hi there" {
		t.Errorf("options = %+v", got)
	}
}

func TestExecFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--", "true"}, "exec needs an inventory"},
		{[]string{"-i", "x", "-o", "yaml", "--", "true"}, "--output must be text or json"},
		{[]string{"-i", "x", "--forks", "0", "--", "true"}, "--forks must be at least 1"},
		{[]string{"-i", "x"}, "requires at least 1 arg"},
	} {
		streams, _, errOut := testIO()
		code := Main(append([]string{"exec"}, tc.args...), streams)
		if code != ExitError || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

// scripted is a dialer whose hosts answer from a table: no network.
type scripted map[string]func() (transport.Result, error)

func (s scripted) Check(h *inventory.Host) error {
	if len(h.SSH.IdentityFiles) > 0 {
		if _, err := os.Stat(h.SSH.IdentityFiles[0]); err != nil {
			return &transport.HostError{Host: h.Name, Op: "connect", Err: fmt.Errorf("%w: identity file %s does not exist", transport.ErrConfig, h.SSH.IdentityFiles[0])}
		}
	}
	return nil
}

func (s scripted) Dial(_ context.Context, h *inventory.Host) (transport.Conn, error) {
	if f, ok := s[h.Name]; ok && f == nil {
		return nil, &transport.HostError{Host: h.Name, Op: "connect", Err: transport.ErrUnreachable}
	}
	return scriptedConn{s: s, host: h.Name}, nil
}

type scriptedConn struct {
	s    scripted
	host string
}

func (c scriptedConn) Host() string { return c.host }
func (c scriptedConn) Run(context.Context, transport.Cmd) (transport.Result, error) {
	if f := c.s[c.host]; f != nil {
		return f()
	}
	return transport.Result{Stdout: []byte("hello from " + c.host + "\n")}, nil
}
func (c scriptedConn) Upload(context.Context, io.Reader, transport.FileSpec) error { return nil }
func (c scriptedConn) Download(context.Context, string, io.Writer, bool) error     { return nil }
func (c scriptedConn) Close() error                                                { return nil }

func writeInventory(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const threeHosts = `
host "web-1" {
  layers = ["web"]
}
host "web-2" {
  layers = ["web"]
}
host "db-1" {
  layers = ["db"]
}
`

func runExec(t *testing.T, d scripted, args ...string) (error, string, string) {
	t.Helper()
	streams, out, errOut := testIO()
	f := &Factory{IO: streams}
	opts := &ExecOptions{IO: streams, f: f, Hosts: "all", Forks: 10, Output: "text", Dialer: d, Command: "hostname"}
	for i := 0; i < len(args); i += 2 {
		switch args[i] {
		case "-i":
			opts.Inventories = append(opts.Inventories, args[i+1])
		case "--hosts":
			opts.Hosts = args[i+1]
		case "-o":
			opts.Output = args[i+1]
		}
	}
	err := execRun(context.Background(), opts)
	return err, out.String(), errOut.String()
}

func exitOf(err error) ExitCode {
	if err == nil {
		return ExitOK
	}
	if ee, ok := err.(*exitError); ok {
		return ee.code
	}
	return -1
}

func TestExecRunText(t *testing.T) {
	inv := writeInventory(t, threeHosts)
	err, out, _ := runExec(t, scripted{}, "-i", inv)
	if exitOf(err) != ExitOK {
		t.Fatalf("exit %v", err)
	}
	for _, h := range []string{"web-1", "web-2", "db-1"} {
		block := "=== " + h + ": ok (exit 0, "
		i := strings.Index(out, block)
		if i < 0 {
			t.Fatalf("no block for %s in\n%s", h, out)
		}
		// The host's output follows its header directly: blocks never interleave.
		rest := out[i:]
		nl := strings.IndexByte(rest, '\n')
		if !strings.HasPrefix(rest[nl+1:], "hello from "+h+"\n") {
			t.Errorf("block for %s not contiguous:\n%s", h, out)
		}
	}
	if !strings.Contains(out, "3 hosts: 3 ok, 0 failed, 0 unreachable") {
		t.Errorf("no totals in\n%s", out)
	}
}

func TestExecExitStatuses(t *testing.T) {
	inv := writeInventory(t, threeHosts)
	failing := func() (transport.Result, error) {
		return transport.Result{ExitStatus: 1, Stderr: []byte("nope\n")}, nil
	}

	err, out, _ := runExec(t, scripted{"web-2": failing}, "-i", inv)
	if exitOf(err) != ExitFailed {
		t.Errorf("a failed host: exit %d, want 2", exitOf(err))
	}
	if !strings.Contains(out, "=== web-2: failed (exit 1") || !strings.Contains(out, "--- stderr\nnope\n") {
		t.Errorf("failed block missing:\n%s", out)
	}

	err, out, _ = runExec(t, scripted{"web-2": failing, "db-1": nil}, "-i", inv)
	if exitOf(err) != ExitUnreachable {
		t.Errorf("an unreachable host: exit %d, want 3", exitOf(err))
	}
	if !strings.Contains(out, "1 ok, 1 failed, 1 unreachable") {
		t.Errorf("totals wrong:\n%s", out)
	}
}

func TestExecJSON(t *testing.T) {
	inv := writeInventory(t, threeHosts)
	err, out, _ := runExec(t, scripted{"db-1": nil}, "-i", inv, "-o", "json")
	if exitOf(err) != ExitUnreachable {
		t.Errorf("exit %d", exitOf(err))
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 JSON lines, got %d:\n%s", len(lines), out)
	}
	seen := map[string]report.AdhocJSON{}
	for _, l := range lines {
		var j report.AdhocJSON
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		seen[j.Host] = j
	}
	if j := seen["web-1"]; j.Status != "ok" || j.ExitStatus == nil || *j.ExitStatus != 0 || j.Stdout != "hello from web-1\n" {
		t.Errorf("web-1 = %+v", j)
	}
	if j := seen["db-1"]; j.Status != "unreachable" || j.ExitStatus != nil || !strings.Contains(j.Error, "unreachable") {
		t.Errorf("db-1 = %+v", j)
	}
}

func TestExecSelectsHosts(t *testing.T) {
	inv := writeInventory(t, threeHosts)
	err, out, _ := runExec(t, scripted{}, "-i", inv, "--hosts", "web,!web-2")
	if exitOf(err) != ExitOK || !strings.Contains(out, "=== web-1") || strings.Contains(out, "web-2:") || strings.Contains(out, "db-1:") {
		t.Errorf("pattern not applied (err %v):\n%s", err, out)
	}
}

func TestExecBadInput(t *testing.T) {
	bad := writeInventory(t, "host \"a\" {\n  port = \"ssh\"\n}\n")
	err, _, errOut := runExec(t, scripted{}, "-i", bad)
	if exitOf(err) != ExitError || !strings.Contains(errOut, bad+":2:10: error: Incorrect attribute value type") {
		t.Errorf("bad inventory: exit %d, stderr %q", exitOf(err), errOut)
	}

	err, _, _ = runExec(t, scripted{}, "-i", filepath.Join(t.TempDir(), "missing.hcl"))
	if exitOf(err) != ExitError {
		t.Errorf("missing inventory: exit %d", exitOf(err))
	}

	nokey := writeInventory(t, "defaults {\n  identity_file = \"nokey\"\n}\n"+threeHosts)
	err, out, _ := runExec(t, scripted{}, "-i", nokey)
	if exitOf(err) != ExitError || out != "" || !strings.Contains(err.Error(), "web-1, web-2, db-1: bad connection settings: identity file") {
		t.Errorf("missing key: exit %d, err %v, output %q (nothing may run)", exitOf(err), err, out)
	}

	inv := writeInventory(t, threeHosts)
	err, _, _ = runExec(t, scripted{}, "-i", inv, "--hosts", "cache")
	if exitOf(err) != ExitError || !strings.Contains(err.Error(), `"cache" names no host and no layer`) {
		t.Errorf("pattern matching nothing: %v", err)
	}
}
