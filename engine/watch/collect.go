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
}

// Result is one instance's sample: Metrics when Err is nil. Err names the
// host and wraps the transport's sentinels (transport.ErrUnreachable, ...),
// ErrParse or the context's error.
type Result struct {
	Host    *inventory.Host
	Metrics Metrics
	Err     error
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
			m, err := sample(ctx, d, h)
			if err != nil {
				log.Warn("metrics sample failed", "host", h.Name, "err", err)
			}
			results[i] = Result{Host: h, Metrics: m, Err: err}
		}()
	}
	wg.Wait()
	return results
}

func sample(ctx context.Context, d transport.Dialer, h *inventory.Host) (Metrics, error) {
	conn, err := d.Dial(ctx, h)
	if err != nil {
		return Metrics{}, hostError(h, "connect", err)
	}
	defer conn.Close()
	res, err := conn.Run(ctx, transport.Cmd{Command: script})
	if err != nil {
		return Metrics{}, hostError(h, "run", err)
	}
	if res.ExitStatus != 0 {
		return Metrics{}, fmt.Errorf("%s: sampling /proc exited %d: %s: %w", h.Name, res.ExitStatus, firstLine(res.Stderr), ErrParse)
	}
	m, err := Parse(res.Stdout)
	if err != nil {
		return Metrics{}, fmt.Errorf("%s: %w", h.Name, err)
	}
	return m, nil
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
