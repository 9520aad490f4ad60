package facts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/probe"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/modules"
)

// TestStatBatchMatchesCommand runs the stat probes of many paths of every
// kind twice, each alone and as one batch, under every shell and with
// both GNU and busybox stat: the batch must answer exactly as the
// probes' own commands do.
func TestStatBatchMatchesCommand(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "a b'c\"$(touch pwned)"), "hello", 0o640)
	mustWrite(t, filepath.Join(dir, "absent"), "a file named like the marker", 0o600)
	mustWrite(t, filepath.Join(dir, "-n"), "an option-like name", 0o600)
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	paths := []string{dir, filepath.Join(dir, "a b'c\"$(touch pwned)"), filepath.Join(dir, "absent"), filepath.Join(dir, "-n"),
		filepath.Join(dir, "d"), filepath.Join(dir, "dangling"), filepath.Join(dir, "missing"), filepath.Join(dir, "missing", "deeper"),
		filepath.Join(dir, "tab\there"), filepath.Join(dir, "nl\nhere")}
	var batched []modules.Probe
	for _, p := range paths {
		batched = append(batched, StatProbe(p))
	}
	if batched[0].Batch == nil || batched[len(batched)-1].Batch != nil {
		t.Fatal("plain paths must batch and a path with a newline must not")
	}
	batchAnswers(t, batched, "stat")
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("a path was run as a command")
	}
}

func TestSplitStatRejectsGarbage(t *testing.T) {
	if _, err := splitStat("no tab here\n", []string{"/x"}); err == nil {
		t.Fatal("a line without a tab must be refused")
	}
	got, err := splitStat("/a\tdirectory\t755\troot\troot\t4096\t0\t0\nabsent\t/b\n", []string{"/a", "/b", "/c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []modules.ProbeResult{{Stdout: "directory\t755\troot\troot\t4096\t0\t0\n"}, {Stdout: "absent\n"}, {ExitStatus: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

// TestSumBatchMatchesCommand does for SumProbe what
// TestStatBatchMatchesCommand does for StatProbe, with and without a
// wanted checksum, so content comes back only when it differs.
func TestSumBatchMatchesCommand(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "a b'c\"$(touch pwned)")
	mustWrite(t, small, "hello\n", 0o640)
	big := filepath.Join(dir, "big")
	mustWrite(t, big, strings.Repeat("x", MaxDiffSize+1), 0o600)
	empty := filepath.Join(dir, "empty")
	mustWrite(t, empty, "", 0o600)
	if err := os.Symlink(small, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := sum([]byte("other"))
	batched := []modules.Probe{
		SumProbe(small, ""), SumProbe(small, other), SumProbe(small, sum([]byte("hello\n"))),
		SumProbe(big, other), SumProbe(empty, other), SumProbe(filepath.Join(dir, "link"), other),
		SumProbe(filepath.Join(dir, "d"), ""), SumProbe(filepath.Join(dir, "missing"), other),
		SumProbe(filepath.Join(dir, "back\\slash"), ""),
	}
	if batched[0].Batch == nil || batched[len(batched)-1].Batch != nil {
		t.Fatal("plain paths must batch and a path with a backslash must not")
	}
	mustWrite(t, filepath.Join(dir, "back\\slash"), "b", 0o600)
	for name, got := range batchAnswers(t, batched, "sha256sum", "base64", "wc") {
		if s, err := ParseSum(got[SumProbe(small, other).ID]); err != nil || string(s.Content) != "hello\n" {
			t.Errorf("%s: content of a differing file: %+v %v", name, s, err)
		}
	}
}

// batchAnswers runs probes under every shell, each alone (without its
// Batch) and then all at once, batched as the engine batches them, and
// fails t wherever the batch answers otherwise than a probe's own
// command. The shells are local.Shells and, with busybox, its shell with
// busybox's own applets for the tools named first on PATH, as on Alpine,
// so both GNU and busybox tools answer the batch. It returns the batched
// answers by shell.
func batchAnswers(t *testing.T, probes []modules.Probe, applets ...string) map[string]modules.Facts {
	t.Helper()
	alone := make([]modules.Probe, len(probes))
	for i, p := range probes {
		p.Batch = nil
		alone[i] = p
	}
	conns := local.Shells(t)
	if bb, err := exec.LookPath("busybox"); err == nil {
		bin := t.TempDir()
		for _, applet := range applets {
			if err := os.Symlink(bb, filepath.Join(bin, applet)); err != nil {
				t.Fatal(err)
			}
		}
		c := *conns["busybox"]
		c.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
		conns["busybox applets"] = &c
	}
	out := map[string]modules.Facts{}
	for name, c := range conns {
		want, err := probe.Run(context.Background(), c, alone, false)
		if err != nil {
			t.Fatalf("%s alone: %v", name, err)
		}
		got, err := probe.Run(context.Background(), c, probes, false)
		if err != nil {
			t.Fatalf("%s batched: %v", name, err)
		}
		for _, p := range alone {
			if got[p.ID] != want[p.ID] {
				t.Errorf("%s: %s: batch gave %+v, alone %+v", name, p.ID, got[p.ID], want[p.ID])
			}
		}
		out[name] = got
	}
	return out
}

func TestSumBatchScriptUsesMaxDiffSize(t *testing.T) {
	if !strings.Contains(sumBatchScript, "-le "+strconv.Itoa(MaxDiffSize)+" ]") {
		t.Fatal("sumBatchScript's size limit is not MaxDiffSize")
	}
}
