package probe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules"
)

// echoBatch answers each argument with "<arg>!" from one shell loop, or,
// alone, with its own command.
func echoBatch(id, arg string, sensitive bool) modules.Probe {
	return modules.Probe{ID: id, Command: "echo " + arg + "!", Sensitive: sensitive, Batch: &modules.Batch{
		Key: "echo", Script: `for a do echo "$a"; done`, Arg: arg,
		Split: func(stdout string, args []string) ([]modules.ProbeResult, error) {
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if len(lines) != len(args) {
				return nil, fmt.Errorf("%d lines for %d args", len(lines), len(args))
			}
			out := make([]modules.ProbeResult, len(args))
			for i, l := range lines {
				out[i] = modules.ProbeResult{Stdout: l + "!\n"}
			}
			return out, nil
		},
	}}
}

func TestBatchRunsOnceForItsMembers(t *testing.T) {
	for name, c := range shells(t) {
		t.Run(name, func(t *testing.T) {
			probes := []modules.Probe{
				echoBatch("a", "one", false), {ID: "plain", Command: "echo plain"}, echoBatch("b", "two", true), echoBatch("a", "one", false),
			}
			var script string
			c.onRun = func(stdin string) { script = stdin }
			facts, err := Run(context.Background(), c, probes, false)
			if err != nil {
				t.Fatal(err)
			}
			want := modules.Facts{"a": {Stdout: "one!\n"}, "b": {Stdout: "two!\n"}, "plain": {Stdout: "plain\n"}}
			if fmt.Sprint(facts) != fmt.Sprint(want) {
				t.Errorf("facts %v, want %v", facts, want)
			}
			if strings.Contains(script, "echo one!") || strings.Count(script, "for a do") != 1 {
				t.Errorf("the members' own commands ran, or the batch ran twice:\n%s", script)
			}
		})
	}
}

func TestBatchOfOneRunsItsCommand(t *testing.T) {
	c := shells(t)["sh"]
	var script string
	c.onRun = func(stdin string) { script = stdin }
	facts, err := Run(context.Background(), c, []modules.Probe{echoBatch("a", "one", false)}, false)
	if err != nil || facts["a"].Stdout != "one!\n" || strings.Contains(script, "for a do") {
		t.Fatalf("facts %v, err %v, script:\n%s", facts, err, script)
	}
}

func TestBatchSensitiveAndSplitErrors(t *testing.T) {
	unique, groups := batch([]modules.Probe{echoBatch("a", "one", false), echoBatch("b", "two", true)})
	if len(unique) != 1 || !unique[0].Sensitive || len(groups) != 1 {
		t.Fatalf("a batch with a sensitive member must be sensitive: %+v", unique)
	}
	facts := modules.Facts{unique[0].ID: {Stdout: "only one line\n"}}
	if err := split(facts, groups); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("a batch whose output does not split: %v, want ErrIncomplete", err)
	}
}
