package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/modules"
)

// fakeConn answers Run with run and fails any other use.
type fakeConn struct {
	runs atomic.Int32
	run  func(transport.Cmd) (transport.Result, error)
}

func (c *fakeConn) Host() string { return "web-1" }
func (c *fakeConn) Run(_ context.Context, cmd transport.Cmd) (transport.Result, error) {
	c.runs.Add(1)
	return c.run(cmd)
}
func (c *fakeConn) Upload(context.Context, io.Reader, transport.FileSpec) error {
	return errors.New("unexpected upload")
}
func (c *fakeConn) Download(context.Context, string, io.Writer, bool) error {
	return errors.New("unexpected download")
}
func (c *fakeConn) Close() error { return nil }

// localConn is a local.Conn (real dash, bash or busybox ash on this
// machine) that counts its round trips and keeps the last command.
type localConn struct {
	*local.Conn
	runs  atomic.Int32
	last  transport.Cmd
	onRun func(stdin string) // when set, sees the script fed on stdin
}

func (c *localConn) Run(ctx context.Context, cmd transport.Cmd) (transport.Result, error) {
	c.runs.Add(1)
	c.last = cmd
	if c.onRun != nil && cmd.Stdin != nil {
		b, err := io.ReadAll(cmd.Stdin)
		if err != nil {
			return transport.Result{}, err
		}
		c.onRun(string(b))
		cmd.Stdin = strings.NewReader(string(b))
	}
	return c.Conn.Run(ctx, cmd)
}

func shells(t *testing.T) map[string]*localConn {
	out := map[string]*localConn{}
	for name, c := range local.Shells(t) {
		c.Name = "web-1"
		out[name] = &localConn{Conn: c}
	}
	return out
}

// weird are probes whose output or behaviour would break a naive framing.
var weird = []struct {
	probe  modules.Probe
	stdout string
	status int // -1: any non-zero
}{
	{modules.Probe{ID: "plain", Command: "echo hello"}, "hello\n", 0},
	{modules.Probe{ID: "no-newline", Command: "printf 'no newline'"}, "no newline", 0},
	{modules.Probe{ID: "newlines", Command: `printf 'two\n\n\n'`}, "two\n\n\n", 0},
	{modules.Probe{ID: "only-newline", Command: `echo`}, "\n", 0},
	{modules.Probe{ID: "silent-fail", Command: "exit 7"}, "", 7},
	{modules.Probe{ID: "false", Command: "false"}, "", 1},
	{modules.Probe{ID: "missing-file", Command: "cat /nonexistent/opsrun"}, "", -1},
	{modules.Probe{ID: "binary", Command: `printf '\000\001\377\015bin\000'`}, "\x00\x01\xff\rbin\x00", 0},
	{modules.Probe{ID: "fake-markers", Command: `printf 'B 0\n E 0 0\nfeedface B 1\n\nfeedface E 9 0\n_opsrun_tok B 2\n'`},
		"B 0\n E 0 0\nfeedface B 1\n\nfeedface E 9 0\n_opsrun_tok B 2\n", 0},
	{modules.Probe{ID: "stderr", Command: "echo out; echo err >&2; exit 3"}, "out\n", 3},
	{modules.Probe{ID: "stdin", Command: "cat; echo after"}, "after\n", 0},
	{modules.Probe{ID: "syntax-error", Command: "echo 'unterminated"}, "", -1},
	{modules.Probe{ID: "stray-paren", Command: "echo hi )"}, "", -1},
	{modules.Probe{ID: "empty", Command: ""}, "", 0},
	{modules.Probe{ID: "comment", Command: "echo a # trailing comment, no newline"}, "a\n", 0},
	{modules.Probe{ID: "heredoc", Command: "cat <<EOF\nhello $((1+1))\nEOF"}, "hello 2\n", 0},
	{modules.Probe{ID: "exports", Command: "X_OPSRUN=1; export X_OPSRUN; cd /; set -e"}, "", 0},
	{modules.Probe{ID: "isolated", Command: `echo "${X_OPSRUN-unset} $#"`}, "unset 0\n", 0},
	{modules.Probe{ID: "quotes", Command: `echo "it's" '"ok"' \$HOME`}, "it's \"ok\" $HOME\n", 0},
	{modules.Probe{ID: "signal", Command: `sh -c 'kill -TERM $$'`}, "", 143},
	{modules.Probe{ID: "big", Command: `i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done`}, bigOutput(), 0},
	{modules.Probe{ID: "last", Command: "printf end"}, "end", 0},
}

func bigOutput() string {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestRunLocalShells(t *testing.T) {
	for name, c := range shells(t) {
		t.Run(name, func(t *testing.T) {
			var probes []modules.Probe
			for _, w := range weird {
				probes = append(probes, w.probe)
			}
			probes = append(probes, weird[0].probe) // declared twice, runs once
			facts, err := Run(context.Background(), c, probes, true)
			if err != nil {
				t.Fatal(err)
			}
			if n := c.runs.Load(); n != 1 {
				t.Errorf("%d round trips, want 1", n)
			}
			if !c.last.Become || c.last.Command != runCommand {
				t.Errorf("ran %q become=%v, want %q with become", c.last.Command, c.last.Become, runCommand)
			}
			if len(facts) != len(weird) {
				t.Errorf("%d results, want %d", len(facts), len(weird))
			}
			for _, w := range weird {
				got, ok := facts[w.probe.ID]
				switch {
				case !ok:
					t.Errorf("%s: no result", w.probe.ID)
				case got.Stdout != w.stdout:
					t.Errorf("%s: stdout %q, want %q", w.probe.ID, trunc(got.Stdout), trunc(w.stdout))
				case w.status == -1 && got.ExitStatus == 0, w.status >= 0 && got.ExitStatus != w.status:
					t.Errorf("%s: exit status %d, want %d", w.probe.ID, got.ExitStatus, w.status)
				}
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// octal writes b as a printf format that prints exactly b: every byte as
// a \ooo escape, the one form POSIX printf, dash, bash and busybox share,
// and the only way to make a shell print NUL.
func octal(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, `\%03o`, c)
	}
	return s.String()
}

// Framing, then a real shell running the probes, then parsing gives back
// exactly what each probe printed, whatever the bytes.
func TestRoundTripRealShell(t *testing.T) {
	const n = 40
	contents := make([][]byte, n)
	probes := make([]modules.Probe, n)
	for i := range contents {
		var size [1]byte
		rand.Read(size[:])
		b := make([]byte, int(size[0])%97)
		rand.Read(b)
		switch i % 4 { // bias toward the bytes that matter to framing
		case 1:
			b = append(b, '\n', '\n')
		case 2:
			b = append([]byte("\nE 0 0\n"), b...)
		case 3:
			b = bytes.ReplaceAll(b, []byte{b2(b)}, []byte{'\n'})
		}
		contents[i] = b
		probes[i] = modules.Probe{ID: "p" + strconv.Itoa(i), Command: "printf '" + octal(b) + "'; exit " + strconv.Itoa(i)}
	}
	for name, c := range shells(t) {
		t.Run(name, func(t *testing.T) {
			facts, err := Run(context.Background(), c, probes, false)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range contents {
				got := facts["p"+strconv.Itoa(i)]
				if got.Stdout != string(want) || got.ExitStatus != i {
					t.Errorf("probe %d: got %q %d, want %q %d", i, got.Stdout, got.ExitStatus, want, i)
				}
			}
		})
	}
}

func b2(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// A probe that kills the script leaves the probes after it without
// frames: an error, never a partial result.
func TestRunScriptKilled(t *testing.T) {
	for name, c := range shells(t) {
		t.Run(name, func(t *testing.T) {
			probes := []modules.Probe{
				{ID: "a", Command: "echo a"},
				{ID: "killer", Command: "kill -9 $$"}, // $$ in a subshell is the script
				{ID: "c", Command: "echo c"},
			}
			_, err := Run(context.Background(), c, probes, false)
			var he *transport.HostError
			if !errors.Is(err, ErrIncomplete) || !errors.As(err, &he) || he.Host != "web-1" || he.Op != "probe" || !strings.Contains(err.Error(), `"killer"`) {
				t.Errorf("err = %v, want ErrIncomplete naming web-1 and probe killer", err)
			}
		})
	}
}

// Every proper prefix of a real output is an error, so a cut session is
// never mistaken for a complete one.
func TestParseTruncated(t *testing.T) {
	c := shells(t)["sh"]
	if c == nil {
		t.Skip("no sh")
	}
	probes := []modules.Probe{{ID: "a", Command: "printf 'x\n'"}, {ID: "b", Command: "exit 3"}, {ID: "c", Command: "printf 'tail'"}}
	token := "0123456789abcdef0123456789abcdef"
	res, err := c.Run(context.Background(), transport.Cmd{Command: runCommand, Stdin: strings.NewReader(Script(probes, token))})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"a", "b", "c"}
	if _, err := Parse(res.Stdout, token, ids); err != nil {
		t.Fatalf("full output: %v", err)
	}
	for n := range len(res.Stdout) {
		if _, err := Parse(res.Stdout[:n], token, ids); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("first %d of %d bytes: err %v, want ErrIncomplete", n, len(res.Stdout), err)
		}
	}
}

// The exact script for two probes, so a change to its shape is a
// deliberate one.
func TestScriptGolden(t *testing.T) {
	got := Script([]modules.Probe{
		{ID: "stat:/etc/motd", Command: "stat -c '%a %U' /etc/motd"},
		{ID: "empty", Command: ""},
	}, "0123456789abcdef")
	want := `_opsrun_tok=01234567; _opsrun_tok=${_opsrun_tok}89abcdef
printf '%s B 0\n' "$_opsrun_tok"; (eval 'stat -c '"'"'%a %U'"'"' /etc/motd') </dev/null 2>/dev/null; printf '\n%s E 0 %d\n' "$_opsrun_tok" "$?"
printf '%s B 1\n' "$_opsrun_tok"; (eval '') </dev/null 2>/dev/null; printf '\n%s E 1 %d\n' "$_opsrun_tok" "$?"
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "0123456789abcdef") {
		t.Error("the script's text contains the whole token")
	}
}

func TestRunEmpty(t *testing.T) {
	c := &fakeConn{run: func(transport.Cmd) (transport.Result, error) {
		t.Error("no probes, yet a round trip")
		return transport.Result{}, nil
	}}
	for _, probes := range [][]modules.Probe{nil, {}} {
		facts, err := Run(context.Background(), c, probes, true)
		if err != nil || facts == nil || len(facts) != 0 {
			t.Errorf("Run(%v) = %v, %v; want empty Facts", probes, facts, err)
		}
	}
}

func TestRunConflict(t *testing.T) {
	c := &fakeConn{run: func(transport.Cmd) (transport.Result, error) {
		t.Error("conflicting probes, yet a round trip")
		return transport.Result{}, nil
	}}
	_, err := Run(context.Background(), c, []modules.Probe{
		{ID: "x", Command: "echo 1"}, {ID: "y", Command: "true"}, {ID: "x", Command: "echo 2"},
	}, false)
	var he *transport.HostError
	if !errors.Is(err, ErrConflict) || !errors.As(err, &he) || he.Host != "web-1" || !strings.Contains(err.Error(), "echo 2") {
		t.Errorf("err = %v, want ErrConflict naming web-1 and the commands", err)
	}
	_, err = Run(context.Background(), c, []modules.Probe{
		{ID: "x", Command: "check s3cret"}, {ID: "x", Command: "check other", Sensitive: true},
	}, false)
	if !errors.Is(err, ErrConflict) || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "other") {
		t.Errorf("err = %v, want ErrConflict without the sensitive commands", err)
	}
}

func TestRunTransportErrors(t *testing.T) {
	probes := []modules.Probe{{ID: "a", Command: "true"}}
	c := &fakeConn{run: func(transport.Cmd) (transport.Result, error) {
		return transport.Result{}, &transport.HostError{Host: "web-1", Op: "run", Err: transport.ErrBecomeFailed}
	}}
	_, err := Run(context.Background(), c, probes, true)
	if !errors.Is(err, transport.ErrBecomeFailed) || strings.Count(err.Error(), "web-1") != 1 {
		t.Errorf("err = %v, want ErrBecomeFailed naming web-1 once", err)
	}
	c.run = func(transport.Cmd) (transport.Result, error) { return transport.Result{}, context.Canceled }
	_, err = Run(context.Background(), c, probes, true)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "web-1") {
		t.Errorf("err = %v, want Canceled naming web-1", err)
	}
	c.run = func(transport.Cmd) (transport.Result, error) {
		return transport.Result{ExitStatus: 2, Stderr: []byte("sh: 1: cannot open /dev/null: Permission denied")}, nil
	}
	_, err = Run(context.Background(), c, probes, true)
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "Permission denied") || !strings.Contains(err.Error(), "exit status 2") {
		t.Errorf("err = %v, want ErrIncomplete quoting the shell's complaint", err)
	}
}

func TestParseRejects(t *testing.T) {
	const tok = "tok"
	for name, c := range map[string]struct {
		out, token string
	}{
		"empty token":              {"tok B 0\nx\ntok E 0 0\n", ""},
		"token with space":         {"t k B 0\nx\nt k E 0 0\n", "t k"},
		"no status":                {"tok B 0\nx\ntok E 0 \n", tok},
		"status not a number":      {"tok B 0\nx\ntok E 0 zero\n", tok},
		"status too big":           {"tok B 0\nx\ntok E 0 256\n", tok},
		"negative status":          {"tok B 0\nx\ntok E 0 -1\n", tok},
		"padded status":            {"tok B 0\nx\ntok E 0 007\n", tok},
		"frame of the wrong probe": {"tok B 1\nx\ntok E 1 0\n", tok},
		"end without newline":      {"tok B 0\nx\ntok E 0 0", tok},
	} {
		if _, err := Parse([]byte(c.out), c.token, []string{"a"}); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	// Noise between frames (a profile script's echo) is ignored.
	got, err := Parse([]byte("motd\ntok B 0\nx\ntok E 0 4\nnoise\ntok B 1\n\ntok E 1 0\n"), tok, []string{"a", "b"})
	want := modules.Facts{"a": {Stdout: "x", ExitStatus: 4}, "b": {Stdout: "", ExitStatus: 0}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
}

// frame is what Script's output looks like for these stdouts: the
// simulation the round-trip fuzz checks Parse against.
func frame(token string, stdouts [][]byte, statuses []int) []byte {
	var b bytes.Buffer
	for i, s := range stdouts {
		fmt.Fprintf(&b, "%s B %d\n", token, i)
		b.Write(s)
		fmt.Fprintf(&b, "\n%s E %d %d\n", token, i, statuses[i])
	}
	return b.Bytes()
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello\n"), []byte{0})
	f.Add([]byte("a\x1eb\n\n\x1e\x1e"), []byte{1, 2, 255})
	f.Add([]byte("ffff B 0\n\x1e\nffff E 0 0\n\x1eno newline"), []byte{3})
	f.Add([]byte("\x00\xff\r\n\x1e"), []byte{})
	const token = "5f0c8e2b9d4a71e6c3b8a0f2d9e4c7b1"
	f.Fuzz(func(t *testing.T, data, codes []byte) {
		// Probe outputs are data split at 0x1e; the token never occurs in
		// them in reality (it is random per call), so inputs holding it
		// are outside the property.
		if bytes.Contains(data, []byte(token)) {
			t.Skip()
		}
		stdouts := bytes.Split(data, []byte{0x1e})
		if len(stdouts) > 200 {
			stdouts = stdouts[:200]
		}
		ids := make([]string, len(stdouts))
		statuses := make([]int, len(stdouts))
		for i := range stdouts {
			ids[i] = "id" + strconv.Itoa(i)
			if len(codes) > 0 {
				statuses[i] = int(codes[i%len(codes)])
			}
		}
		got, err := Parse(frame(token, stdouts, statuses), token, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range stdouts {
			if r := got[ids[i]]; r.Stdout != string(s) || r.ExitStatus != statuses[i] {
				t.Fatalf("probe %d: got %q %d, want %q %d", i, r.Stdout, r.ExitStatus, s, statuses[i])
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("tok B 0\nx\ntok E 0 0\n"), "tok", uint8(1))
	f.Add([]byte("tok B 0\ntok B 1\n\ntok E 1 0\ntok E 0 0\n"), "tok", uint8(2))
	f.Add([]byte("tok B 0\n\ntok E 0 99999999999999999999999\n"), "tok", uint8(1))
	f.Add([]byte{}, "", uint8(0))
	f.Fuzz(func(t *testing.T, out []byte, token string, n uint8) {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = strconv.Itoa(i % 7) // duplicates too
		}
		got, err := Parse(out, token, ids)
		if err != nil {
			return
		}
		for _, id := range ids {
			r, ok := got[id]
			if !ok || r.ExitStatus < 0 || r.ExitStatus > 255 {
				t.Fatalf("result for %q: %v %v", id, r, ok)
			}
		}
	})
}
