package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/opsrun/opsrun/engine/compile"
	"github.com/opsrun/opsrun/engine/run"
)

// RunPrinter shows a stack run as it happens.
type RunPrinter interface {
	// Planned is told what the event will do (for progress totals).
	Planned(p *compile.Plan)
	// Emit receives every run event, one at a time.
	Emit(e run.Event)
}

// NewRunJSON prints every event as one JSON object per line.
func NewRunJSON(out io.Writer) RunPrinter { return &runJSON{enc: json.NewEncoder(out)} }

type runJSON struct{ enc *json.Encoder }

func (p *runJSON) Planned(*compile.Plan) {}
func (p *runJSON) Emit(e run.Event)      { _ = p.enc.Encode(e) }

// NewRunText prints a line per changed or failed resource (with diffs when
// showDiffs), per-layer progress on errOut when tty, and a recap table.
// With grouped (opsrun plan), resources are listed per host at the end
// instead of as they happen.
func NewRunText(out, errOut io.Writer, tty, showDiffs, grouped bool) RunPrinter {
	return &runText{out: out, errOut: errOut, tty: tty, diffs: showDiffs, grouped: grouped,
		total: map[string]int{}, done: map[string]int{}, byHost: map[string][]run.Event{}}
}

type runText struct {
	out, errOut io.Writer
	tty         bool
	diffs       bool
	grouped     bool

	mu          sync.Mutex
	layers      []string
	total, done map[string]int // tasks per layer
	shown       bool           // a progress line is on screen
	lastDraw    time.Time
	event       string
	check       bool
	byHost      map[string][]run.Event
	hostOrder   []string
	recaps      []run.Event
}

func (p *runText) Planned(plan *compile.Plan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, level := range plan.Levels {
		for _, lp := range level {
			p.layers = append(p.layers, lp.Layer.Name)
			for _, hp := range lp.Hosts {
				p.total[lp.Layer.Name] += max(len(hp.Tasks), 1)
			}
		}
	}
}

func (p *runText) Emit(e run.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Type {
	case run.TypeRunStart:
		p.event, p.check = e.Event, e.Check
		mode := ""
		if e.Check {
			mode = " (check mode: nothing will be changed)"
		}
		if !p.grouped {
			fmt.Fprintf(p.out, "%s on %s of stack %s%s\n", e.Event, Plural(e.Hosts, "host"), e.Stack, mode)
		}
	case run.TypePhase:
		// A new step of opsrun up or deploy: its own progress totals.
		p.clearProgress()
		p.layers, p.total, p.done = nil, map[string]int{}, map[string]int{}
		if !p.grouped {
			fmt.Fprintf(p.out, "==> %s\n", e.Message)
		}
	case run.TypeTask:
		if e.Layer != "" && !e.Handler {
			p.done[e.Layer]++
		}
		if e.Status == run.StatusChanged || e.Status == run.StatusFailed || e.Status == run.StatusIgnored {
			if p.grouped {
				if _, ok := p.byHost[e.Host]; !ok {
					p.hostOrder = append(p.hostOrder, e.Host)
				}
				p.byHost[e.Host] = append(p.byHost[e.Host], e)
			} else {
				p.clearProgress()
				p.printTask(e, "")
			}
		}
		p.drawProgress(false)
	case run.TypeHostRecap:
		p.recaps = append(p.recaps, e)
	case run.TypeRunEnd:
		p.clearProgress()
		if p.grouped {
			p.printGrouped(e)
		}
		p.printRecap(e)
		if e.Message != "" {
			fmt.Fprintln(p.out, e.Message)
		}
	}
}

func (p *runText) printTask(e run.Event, indent string) {
	what := e.Resource
	if e.Handler {
		what += " (notified)"
	}
	status := e.Status
	if status == run.StatusChanged && p.check {
		status = "would change"
	}
	if e.Resource == "" {
		fmt.Fprintf(p.out, "%s%-12s %-10s %s: %s\n", indent, e.Host, e.Layer, status, e.Error)
		return
	}
	detail := strings.Join(e.Actions, "; ")
	if e.Error != "" {
		detail = e.Error
	}
	if e.Status == run.StatusIgnored {
		detail += " (ignored: ignore_errors = true)"
	}
	if e.Attempts > 1 {
		detail += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	if p.grouped {
		fmt.Fprintf(p.out, "%s%s %s: %s\n", indent, mark(e), what, detail)
	} else {
		fmt.Fprintf(p.out, "%s%-12s %-10s %-12s %s: %s\n", indent, e.Host, e.Layer, status, what, detail)
	}
	if e.Output != "" {
		for _, line := range strings.Split(e.Output, "\n") {
			fmt.Fprintf(p.out, "%s    | %s\n", indent, line)
		}
	}
	if p.diffs {
		for _, d := range e.Diffs {
			for _, line := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
				fmt.Fprintf(p.out, "%s    %s\n", indent, line)
			}
		}
	}
}

func mark(e run.Event) string {
	switch e.Status {
	case run.StatusFailed:
		return "!"
	case run.StatusIgnored:
		return "?"
	}
	return "~"
}

func (p *runText) printGrouped(end run.Event) {
	for _, h := range p.hostOrder {
		fmt.Fprintf(p.out, "%s:\n", h)
		for _, e := range p.byHost[h] {
			p.printTask(e, "  ")
		}
	}
	if end.Counts != nil {
		fmt.Fprintf(p.out, "Plan (%s): %d to change, %d already right, %d skipped, %d failed, on %s.\n",
			p.event, end.Changed, end.OK, end.Skipped, end.Failed, Plural(len(p.recaps), "host"))
	}
}

func (p *runText) printRecap(end run.Event) {
	fmt.Fprintln(p.out)
	fmt.Fprintf(p.out, "RECAP %s (%s)\n", p.event, round(time.Duration(end.DurationMS)*time.Millisecond))
	tw := tabwriter.NewWriter(p.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tOK\tCHANGED\tFAILED\tSKIPPED\tUNREACHABLE")
	var errs []string
	for _, r := range p.recaps {
		c := r.Counts
		if c == nil {
			c = &run.Counts{}
		}
		un := "no"
		if c.Unreachable > 0 {
			un = "yes"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", r.Host, c.OK, c.Changed, c.Failed, c.Skipped, un)
		if r.Error != "" {
			errs = append(errs, r.Error)
		}
	}
	_ = tw.Flush()
	for _, e := range errs {
		fmt.Fprintf(p.out, "error: %s\n", e)
	}
	if c := end.Counts; c != nil {
		ignored := ""
		if c.Ignored > 0 {
			ignored = fmt.Sprintf(" ignored=%d", c.Ignored)
		}
		fmt.Fprintf(p.out, "ok=%d changed=%d failed=%d skipped=%d%s unreachable=%d\n", c.OK, c.Changed, c.Failed, c.Skipped, ignored, c.Unreachable)
	}
}

// drawProgress shows one bar per layer on a single status line, redrawn at
// most every 100 ms.
func (p *runText) drawProgress(force bool) {
	if !p.tty || len(p.layers) == 0 {
		return
	}
	if !force && time.Since(p.lastDraw) < 100*time.Millisecond {
		return
	}
	p.lastDraw = time.Now()
	var parts []string
	for _, l := range p.layers {
		total := max(p.total[l], 1)
		done := min(p.done[l], total)
		const width = 12
		filled := done * width / total
		parts = append(parts, fmt.Sprintf("%s [%s%s] %d/%d", l, strings.Repeat("#", filled), strings.Repeat("-", width-filled), done, total))
	}
	fmt.Fprintf(p.errOut, "\r\x1b[K%s", strings.Join(parts, "  "))
	p.shown = true
}

func (p *runText) clearProgress() {
	if p.shown {
		fmt.Fprint(p.errOut, "\r\x1b[K")
		p.shown = false
	}
}

// Plural counts a noun: "1 host", "2 hosts".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
