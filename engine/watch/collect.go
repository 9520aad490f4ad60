package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// Options tune Collect.
type Options struct {
	Forks  int          // instances sampled at once; <=0 means all
	Logger *slog.Logger // nil logs nowhere
	// Checks are health check commands by layer (see
	// lifecycle.CheckScript): each host runs those of its layers in the
	// same round trip as the sample.
	Checks map[string]string
}

// Result is one instance's sample: Metrics when Err is nil. Err names the
// host and wraps the transport's sentinels (transport.ErrUnreachable, ...),
// ErrParse or the context's error.
type Result struct {
	Host    *inventory.Host
	Metrics Metrics
	Err     error
	// Checks are the outcomes of the host's layers' health checks, in
	// layer order; empty when it has none or did not answer.
	Checks []CheckResult
	// Answered reports that the round trip worked (connection, login and
	// the command ran), whatever its output.
	Answered bool
}

// CheckResult is one layer health check's outcome on a host.
type CheckResult struct {
	Layer string
	OK    bool
	// Detail is the last line the check wrote to stderr, or its status,
	// when it failed.
	Detail string
}

// Problem is why the instance counts as unhealthy: the round trip failed,
// or a health check did; "" when it is healthy. A sample that does not
// parse (a host without /proc) is not a health problem: it answered.
func (r Result) Problem() string {
	if !r.Answered {
		if r.Err != nil {
			return r.Err.Error()
		}
		return "did not answer"
	}
	for _, c := range r.Checks {
		if !c.OK {
			return fmt.Sprintf("layer %s health check failed: %s", c.Layer, c.Detail)
		}
	}
	return ""
}

// Collect samples every host in parallel, one connection and one command
// each, and returns a Result per host in hosts' order. A host that cannot
// be reached or read gets an Err; the others are unaffected.
func Collect(ctx context.Context, d transport.Dialer, hosts []*inventory.Host, opts Options) []Result {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	forks := opts.Forks
	if forks <= 0 || forks > len(hosts) {
		forks = len(hosts)
	}
	results := make([]Result, len(hosts))
	sem := make(chan struct{}, max(forks, 1))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				results[i] = Result{Host: h, Err: fmt.Errorf("%s: not sampled: %w", h.Name, ctx.Err())}
				return
			}
			if err := ctx.Err(); err != nil {
				results[i] = Result{Host: h, Err: fmt.Errorf("%s: not sampled: %w", h.Name, err)}
				return
			}
			results[i] = sample(ctx, d, h, opts.Checks)
			if err := results[i].Err; err != nil {
				log.Warn("metrics sample failed", "host", h.Name, "err", err)
			}
		}()
	}
	wg.Wait()
	return results
}

func sample(ctx context.Context, d transport.Dialer, h *inventory.Host, checks map[string]string) Result {
	r := Result{Host: h}
	conn, err := d.Dial(ctx, h)
	if err != nil {
		r.Err = hostError(h, "connect", err)
		return r
	}
	defer conn.Close()
	cmd, layers := command(h, checks)
	res, err := conn.Run(ctx, transport.Cmd{Command: cmd})
	if err != nil {
		r.Err = hostError(h, "run", err)
		return r
	}
	r.Answered = true
	r.Checks = parseChecks(res.Stdout, layers)
	if res.ExitStatus != 0 {
		r.Err = fmt.Errorf("%s: sampling /proc exited %d: %s: %w", h.Name, res.ExitStatus, firstLine(res.Stderr), ErrParse)
		return r
	}
	if r.Metrics, err = Parse(res.Stdout); err != nil {
		r.Err = fmt.Errorf("%s: %w", h.Name, err)
	}
	return r
}

// checkSection starts a health check's section in the sample's output:
// "## check LAYER", then one line: its exit status and the last line of
// its stderr.
const checkSection = "## check "

// command is the sampling script followed by the health checks of h's
// layers, each in a subshell whose stdout is dropped, so one round trip
// answers both. layers are the checked layers, in order.
func command(h *inventory.Host, checks map[string]string) (string, []string) {
	var layers []string
	for _, layer := range h.Layers {
		if _, ok := checks[layer]; ok && !slices.Contains(layers, layer) {
			layers = append(layers, layer)
		}
	}
	if len(layers) == 0 {
		return script, nil
	}
	var b strings.Builder
	b.WriteString(script)
	// The sampling script's status is the command's: a failed check must
	// not make the metrics unreadable.
	b.WriteString("st=$?\n")
	for _, layer := range layers {
		fmt.Fprintf(&b, "echo %s; e=$( ( %s ) 2>&1 >/dev/null ); c=$?; echo \"$c $(printf '%%s\\n' \"$e\" | tail -n 1)\"\n",
			transport.ShellQuote(checkSection+layer), checks[layer])
	}
	b.WriteString("exit $st\n")
	return b.String(), layers
}

// parseChecks reads the check sections; a layer whose section is missing
// (the output was cut) failed.
func parseChecks(out []byte, layers []string) []CheckResult {
	if len(layers) == 0 {
		return nil
	}
	got := map[string]CheckResult{}
	lines := strings.Split(string(out), "\n")
	for i, line := range lines {
		layer, ok := strings.CutPrefix(strings.TrimSpace(line), checkSection)
		if !ok || i+1 >= len(lines) {
			continue
		}
		status, detail, _ := strings.Cut(strings.TrimSpace(lines[i+1]), " ")
		c := CheckResult{Layer: layer, OK: status == "0", Detail: strings.TrimSpace(detail)}
		if !c.OK && c.Detail == "" {
			c.Detail = "exit status " + status
		}
		got[layer] = c
	}
	out2 := make([]CheckResult, 0, len(layers))
	for _, layer := range layers {
		c, ok := got[layer]
		if !ok {
			c = CheckResult{Layer: layer, Detail: "no answer from the check"}
		}
		out2 = append(out2, c)
	}
	return out2
}

// hostError makes sure err names the host, as the SSH transport's errors
// already do, so a caller can print it alone.
func hostError(h *inventory.Host, op string, err error) error {
	var he *transport.HostError
	if errors.As(err, &he) {
		return err
	}
	return &transport.HostError{Host: h.Name, Op: op, Err: err}
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

// LayerMetrics is a layer's aggregate: each metric averaged over the
// layer's instances that answered.
type LayerMetrics struct {
	Layer     string
	Instances int // how many answered, the divisor of the averages
	Metrics   Metrics
}

// Aggregate averages the answered results per layer, layers sorted by
// name. An instance in several layers counts in each; a layer none of
// whose instances answered is left out, since an average of nothing would
// read as zero load.
func Aggregate(results []Result) []LayerMetrics {
	sums := map[string]*LayerMetrics{}
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		for _, layer := range r.Host.Layers {
			lm := sums[layer]
			if lm == nil {
				lm = &LayerMetrics{Layer: layer}
				sums[layer] = lm
			}
			lm.Instances++
			src := r.Metrics
			add := src.fields()
			for i, p := range lm.Metrics.fields() {
				*p += *add[i]
			}
		}
	}
	out := make([]LayerMetrics, 0, len(sums))
	for _, lm := range sums {
		for _, p := range lm.Metrics.fields() {
			*p /= float64(lm.Instances)
		}
		out = append(out, *lm)
	}
	slices.SortFunc(out, func(a, b LayerMetrics) int { return strings.Compare(a.Layer, b.Layer) })
	return out
}
