// Package adhoc runs one shell command on many hosts at once: the engine
// behind `opsrun exec`. Each host gets one connection, the command runs on
// up to Forks hosts in parallel, and a per-host outcome is reported as soon
// as that host is done, so output never waits for the slowest host.
package adhoc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// Dialer opens a connection to a host; sshconn.Dialer is the real one.
type Dialer = transport.Dialer

// Status is a host's outcome.
type Status string

// Outcomes, from best to worst.
const (
	StatusOK          Status = "ok"          // the command exited 0
	StatusFailed      Status = "failed"      // it ran and exited non-zero, timed out, or sudo refused it
	StatusUnreachable Status = "unreachable" // no connection, or it was lost
)

// Options says what to run and how.
type Options struct {
	Command    string
	Become     bool
	BecomeUser string
	Forks      int           // hosts in flight at once; <=0 means all
	Timeout    time.Duration // per-host limit on the command; 0 means none
	Logger     *slog.Logger
}

// HostResult is one host's outcome.
type HostResult struct {
	Host       string
	Status     Status
	ExitStatus int // -1 when the command did not finish
	Stdout     []byte
	Stderr     []byte
	Duration   time.Duration // connect + run
	Err        error         // why it was not ok (nil for a non-zero exit, which ExitStatus tells)
}

// Run runs opts.Command on every host and returns the results in the order
// of hosts. onDone, when not nil, is called once per host as it finishes,
// from one goroutine at a time.
func Run(ctx context.Context, d Dialer, hosts []*inventory.Host, opts Options, onDone func(HostResult)) []HostResult {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	forks := opts.Forks
	if forks <= 0 || forks > len(hosts) {
		forks = len(hosts)
	}
	results := make([]HostResult, len(hosts))
	sem := make(chan struct{}, forks)
	var report sync.Mutex
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r HostResult
			select {
			case sem <- struct{}{}:
				r = runOne(ctx, d, h, opts, log)
				<-sem
			case <-ctx.Done():
				r = notStarted(h, ctx.Err())
			}
			results[i] = r
			report.Lock()
			defer report.Unlock()
			if onDone != nil {
				onDone(r)
			}
		}()
	}
	wg.Wait()
	return results
}

func runOne(ctx context.Context, d Dialer, h *inventory.Host, opts Options, log *slog.Logger) HostResult {
	if err := ctx.Err(); err != nil {
		return notStarted(h, err)
	}
	start := time.Now()
	res := HostResult{Host: h.Name, ExitStatus: -1}
	conn, err := d.Dial(ctx, h)
	if err != nil {
		res.Duration = time.Since(start)
		res.Err = err
		res.Status = classify(err)
		return res
	}
	defer conn.Close()

	runCtx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	out, err := conn.Run(runCtx, transport.Cmd{Command: opts.Command, Become: opts.Become, BecomeUser: opts.BecomeUser})
	res.Duration = time.Since(start)
	res.Stdout, res.Stderr = out.Stdout, out.Stderr
	switch {
	case err != nil && errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		res.Status = StatusFailed
		res.Err = fmt.Errorf("%s: command timed out after %s and was stopped", h.Name, opts.Timeout)
	case err != nil:
		res.Status = classify(err)
		res.Err = err
	case out.ExitStatus != 0:
		res.Status = StatusFailed
		res.ExitStatus = out.ExitStatus
		if out.Signal != "" {
			res.Err = fmt.Errorf("%s: command killed by signal %s", h.Name, out.Signal)
		}
	default:
		res.Status = StatusOK
		res.ExitStatus = 0
	}
	log.Debug("host done", "host", h.Name, "status", string(res.Status), "exitCode", res.ExitStatus, "duration", res.Duration)
	return res
}

// notStarted is the outcome of a host whose turn never came because the
// run was cancelled (SIGINT) first.
func notStarted(h *inventory.Host, err error) HostResult {
	return HostResult{Host: h.Name, Status: StatusFailed, ExitStatus: -1, Err: fmt.Errorf("%s: not started: %w", h.Name, err)}
}

// classify maps a transport error to an outcome. As in Ansible, a host we
// cannot log in to (refused key, unknown or changed host key) counts as
// unreachable: nothing ran there.
func classify(err error) Status {
	switch {
	case errors.Is(err, transport.ErrUnreachable),
		errors.Is(err, transport.ErrAuthFailed),
		errors.Is(err, transport.ErrHostKeyMismatch),
		errors.Is(err, transport.ErrHostKeyUnknown):
		return StatusUnreachable
	default:
		return StatusFailed
	}
}

// Totals counts outcomes.
type Totals struct {
	OK, Failed, Unreachable int
}

// Count tallies results.
func Count(results []HostResult) Totals {
	var t Totals
	for _, r := range results {
		switch r.Status {
		case StatusOK:
			t.OK++
		case StatusFailed:
			t.Failed++
		case StatusUnreachable:
			t.Unreachable++
		}
	}
	return t
}
