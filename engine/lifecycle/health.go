package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules"
)

// healthScript is the app's health check as one shell command on the
// host: run in the current release, with the app's environment.
func healthScript(app *stack.App) string {
	return CheckScript(app.HealthCheck, app.Environment, app.CurrentLink())
}

// CheckScript is a health check as one shell command on the host. An
// HTTP check uses what the host has: curl, wget, busybox wget, or, on a
// host with none of them, bash's /dev/tcp for a plain http:// URL. A 2xx
// or 3xx status passes. A command check runs in dir ("" for the login
// directory) with env exported, under the check's timeout.
func CheckScript(hc *stack.HealthCheck, env map[string]cty.Value, dir string) string {
	var b strings.Builder
	// The environment goes first: a command check sees what build saw.
	for _, k := range slices.Sorted(maps.Keys(env)) {
		v, _ := env[k].Unmark()
		s := ""
		if v.IsKnown() && !v.IsNull() {
			s = v.AsString()
		}
		fmt.Fprintf(&b, "export %s=%s\n", k, q(s))
	}
	secs := max(int(hc.Timeout.Round(time.Second)/time.Second), 1)
	if hc.Command != "" {
		if dir != "" {
			fmt.Fprintf(&b, "cd %s && ", q(dir))
		}
		fmt.Fprintf(&b, "timeout %d sh -c %s", secs, q(hc.Command))
		return b.String()
	}
	u := hc.URL
	host, port, path := "127.0.0.1", "80", "/"
	if pu, err := url.Parse(u); err == nil {
		host, port, path = pu.Hostname(), pu.Port(), pu.RequestURI()
		if port == "" {
			port = map[string]string{"https": "443"}[pu.Scheme]
			if port == "" {
				port = "80"
			}
		}
	}
	fmt.Fprintf(&b, `u=%s t=%d
if command -v curl >/dev/null 2>&1; then exec curl -fsS -o /dev/null --max-time "$t" "$u"
elif command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null -T "$t" "$u"
elif command -v busybox >/dev/null 2>&1 && busybox wget --help >/dev/null 2>&1; then exec busybox wget -q -O /dev/null -T "$t" "$u"
elif command -v bash >/dev/null 2>&1; then exec timeout "$t" bash -c %s health-check %s %s %s
else echo "no curl, wget or bash on this host for the HTTP health check" >&2; exit 1
fi`, q(u), secs, q(devTCP), q(host), q(port), q(path))
	return b.String()
}

// devTCP is a minimal HTTP/1.0 GET through bash's /dev/tcp: $1 host, $2
// port, $3 path. It prints the status line when it is not 2xx or 3xx.
const devTCP = `exec 3<>"/dev/tcp/$1/$2" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$3" "$1" >&3
IFS=' ' read -r proto code rest <&3
case "$code" in 2??|3??) exit 0 ;; esac
echo "HTTP $code $rest" >&2; exit 1`

// healthCheck runs the app's health check on hosts in parallel, each
// with its retries, and reports one task per host: a failed check counts
// against its host in the operation's recap.
func (s *session) healthCheck(ctx context.Context, app *stack.App, hosts []*inventory.Host) {
	hc := app.HealthCheck
	if hc == nil || len(hosts) == 0 {
		return
	}
	layer := layerOf(app)
	addr := "app." + app.Name + ".health"
	what := "health check " + hc.URL
	if hc.Command != "" {
		what = "health check: " + hc.Command
	}
	s.emit(run.Event{Type: run.TypePhase, Event: "deploy", Hosts: len(hosts), Message: fmt.Sprintf("%s on %s", what, names(hosts))})
	if s.opts.Check {
		for _, h := range hosts {
			s.task(run.Event{Host: h.Name, Layer: layer(h), Resource: addr, Status: run.StatusSkipped, Reason: "check mode: " + what + " is run after a real switch"})
		}
		return
	}
	script := healthScript(app)
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attempts, err := s.probeHealth(ctx, h, script, app.Sensitive(), hc)
			e := run.Event{Host: h.Name, Layer: layer(h), Resource: addr, Status: run.StatusOK, Actions: []string{what}}
			if attempts > 1 {
				e.Attempts = attempts
			}
			if err != nil {
				e.Status, e.Error = run.StatusFailed, what+" failed: "+err.Error()
			}
			s.task(e)
		}()
	}
	wg.Wait()
}

// probeHealth tries the check up to 1+Retries times, Interval apart.
func (s *session) probeHealth(ctx context.Context, h *inventory.Host, script string, sensitive bool, hc *stack.HealthCheck) (int, error) {
	conn, err := s.dialer.Dial(ctx, h)
	if err != nil {
		return 0, err
	}
	var last error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, hc.Timeout+10*time.Second)
		_, err := run.Exec(actx, conn, modules.Action{Command: script}, s.in.Stack.Settings.Become, sensitive)
		cancel()
		if err == nil {
			return attempt, nil
		}
		last = err
		var ce *run.CommandError
		if !errors.As(err, &ce) || attempt > hc.Retries {
			return attempt, last
		}
		select {
		case <-ctx.Done():
			return attempt, fmt.Errorf("%w; then %w", last, context.Cause(ctx))
		case <-time.After(hc.Interval):
		}
	}
}
