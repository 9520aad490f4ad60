// Package report turns run outcomes into what people and programs read:
// per-host output blocks, progress, recap tables and JSON lines.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/opsrun/opsrun/engine/adhoc"
)

// AdhocPrinter shows the outcome of `opsrun exec` as hosts finish.
type AdhocPrinter interface {
	// HostDone is called once per host, never concurrently.
	HostDone(r adhoc.HostResult)
	// Finish prints what closes the run (recap, totals).
	Finish(results []adhoc.HostResult, elapsed time.Duration)
}

// NewAdhocText prints each host's output as one block on out as soon as the
// host is done (never interleaved with another host's), then a recap table.
// With tty, a progress bar on errOut counts finished hosts.
func NewAdhocText(out, errOut io.Writer, tty bool, total int) AdhocPrinter {
	p := &adhocText{out: out}
	if tty && total > 1 {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(errOut),
			progressbar.OptionSetDescription("hosts"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(50*time.Millisecond),
		)
	}
	return p
}

type adhocText struct {
	out io.Writer
	bar *progressbar.ProgressBar
}

func (p *adhocText) HostDone(r adhoc.HostResult) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "=== %s: %s\n", r.Host, headline(r))
	b.Write(r.Stdout)
	if len(r.Stdout) > 0 && r.Stdout[len(r.Stdout)-1] != '\n' {
		b.WriteByte('\n')
	}
	if len(r.Stderr) > 0 {
		b.WriteString("--- stderr\n")
		b.Write(r.Stderr)
		if r.Stderr[len(r.Stderr)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	if r.Err != nil {
		fmt.Fprintf(&b, "error: %v\n", r.Err)
	}
	_, _ = p.out.Write(b.Bytes())
	if p.bar != nil {
		_ = p.bar.Add(1)
	}
}

func headline(r adhoc.HostResult) string {
	switch {
	case r.ExitStatus >= 0:
		return fmt.Sprintf("%s (exit %d, %s)", r.Status, r.ExitStatus, round(r.Duration))
	default:
		return fmt.Sprintf("%s (%s)", r.Status, round(r.Duration))
	}
}

func (p *adhocText) Finish(results []adhoc.HostResult, elapsed time.Duration) {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	fmt.Fprintln(p.out)
	fmt.Fprintln(p.out, "RECAP")
	tw := tabwriter.NewWriter(p.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATUS\tEXIT\tTIME")
	for _, r := range results {
		exit := "-"
		if r.ExitStatus >= 0 {
			exit = fmt.Sprint(r.ExitStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Host, r.Status, exit, round(r.Duration))
	}
	_ = tw.Flush()
	t := adhoc.Count(results)
	fmt.Fprintf(p.out, "%d hosts: %d ok, %d failed, %d unreachable in %s\n",
		len(results), t.OK, t.Failed, t.Unreachable, round(elapsed))
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// AdhocJSON is the JSON line printed per host by `opsrun exec --output json`.
type AdhocJSON struct {
	Host       string `json:"host"`
	Status     string `json:"status"`
	ExitStatus *int   `json:"exit_status"` // null when the command did not finish
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

// NewAdhocJSON prints one JSON object per host, one per line, as hosts finish.
func NewAdhocJSON(out io.Writer) AdhocPrinter {
	return &adhocJSON{enc: json.NewEncoder(out)}
}

type adhocJSON struct{ enc *json.Encoder }

func (p *adhocJSON) HostDone(r adhoc.HostResult) {
	j := AdhocJSON{
		Host:       r.Host,
		Status:     string(r.Status),
		Stdout:     string(r.Stdout),
		Stderr:     string(r.Stderr),
		DurationMS: r.Duration.Milliseconds(),
	}
	if r.ExitStatus >= 0 {
		es := r.ExitStatus
		j.ExitStatus = &es
	}
	if r.Err != nil {
		j.Error = r.Err.Error()
	}
	_ = p.enc.Encode(j)
}

func (p *adhocJSON) Finish([]adhoc.HostResult, time.Duration) {}
