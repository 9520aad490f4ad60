package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// waitReady returns once every host would accept an SSH connection from a
// client using the fleet's files: systemd finished booting, and sshd
// answering with its banner where a client dials it.
func (u *upper) waitReady(ctx context.Context, f *Fleet) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	all := f.Hosts
	if f.Bastion != nil {
		all = append([]Host{*f.Bastion}, f.Hosts...)
	}
	return forEach(ctx, len(all), readyConcurrency, func(ctx context.Context, i int) error {
		h := all[i]
		if err := u.hostReady(ctx, h); err != nil {
			return fmt.Errorf("host %s: not ready: %w", h.Name, err)
		}
		return nil
	})
}

func (u *upper) hostReady(ctx context.Context, h Host) error {
	if u.spec.Init == InitSystemd {
		if err := poll(ctx, func(ctx context.Context) error { return systemdBooted(ctx, h.Container) }); err != nil {
			return fmt.Errorf("systemd boot: %w", err)
		}
	}
	if h.Address == "127.0.0.1" {
		return poll(ctx, func(ctx context.Context) error { return sshBanner(ctx, hostPort(h.Address, h.Port)) })
	}
	// Behind the bastion nothing is reachable from here: ask the kernel
	// inside the container whether sshd listens.
	return poll(ctx, func(ctx context.Context) error { return sshListening(ctx, h.Container) })
}

// permanent marks a readiness failure that waiting cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// poll calls try until it succeeds, returns a permanent error, or ctx ends;
// then it reports try's last error, which says more than "deadline exceeded".
func poll(ctx context.Context, try func(context.Context) error) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		err := try(ctx)
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// systemdBooted waits, inside the container, for systemd to finish the boot
// transaction. "degraded" counts as booted: some unit failed, which in a
// container is usually hardware-related and not what tests are about.
func systemdBooted(ctx context.Context, container string) error {
	out, err := docker(ctx, "exec", container, "systemctl", "is-system-running", "--wait")
	state := strings.TrimSpace(string(out))
	switch state {
	case "running", "degraded":
		return nil
	}
	if err != nil && strings.Contains(err.Error(), "is not running") {
		return permanent{stopped(ctx, container)}
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("system state %q", state)
}

// sshBanner connects and reads the server's identification line. Docker's
// port proxy accepts connections before sshd listens, so a successful
// connect alone proves nothing.
func sshBanner(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read SSH banner from %s: %w", addr, err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("%s answered %q, not an SSH banner", addr, strings.TrimSpace(line))
	}
	return nil
}

// sshListening checks /proc/net/tcp{,6} in the container for a socket
// listening on port 22.
func sshListening(ctx context.Context, container string) error {
	out, err := docker(ctx, "exec", container, "cat", "/proc/net/tcp", "/proc/net/tcp6")
	if err != nil {
		if strings.Contains(err.Error(), "is not running") {
			return permanent{stopped(ctx, container)}
		}
		return err
	}
	if listensOn(string(out), 22) {
		return nil
	}
	return errors.New("sshd is not listening on port 22 yet")
}

// listensOn parses /proc/net/tcp format: "sl local_address rem_address st ..."
// with addresses as HEXIP:HEXPORT and state 0A meaning LISTEN.
func listensOn(procNetTCP string, port int) bool {
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(procNetTCP, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		if strings.HasSuffix(f[1], suffix) && f[3] == "0A" {
			return true
		}
	}
	return false
}

// forEach runs fn for 0..n-1 with at most limit at once. The first failure
// cancels the rest, since Up then removes everything anyway; the errors
// that caused it are returned, not the cancellations that followed.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, limit)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			if errs[i] = fn(ctx, i); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return joinCauses(errs)
}

// hostErrors is the failures of several hosts. Its message names the first
// and counts the rest, so a CLI error stays one line; errors.Is and As see
// all of them.
type hostErrors []error

func (e hostErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	return fmt.Sprintf("%v (and %d more host failures)", e[0], len(e)-1)
}

func (e hostErrors) Unwrap() []error { return e }

// joinCauses drops the cancellations forEach caused itself, unless nothing
// else is left (then the caller's context ended, and that is the cause).
func joinCauses(errs []error) error {
	var causes, cancels hostErrors
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			cancels = append(cancels, err)
		default:
			causes = append(causes, err)
		}
	}
	switch {
	case len(causes) > 0:
		return causes
	case len(cancels) > 0:
		return cancels[0]
	}
	return nil
}

// syncList is a list that concurrent creators append to.
type syncList struct {
	mu    sync.Mutex
	items []string
}

func (l *syncList) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, s)
}

func (l *syncList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.items...)
}

// stopped explains a container that stopped while Up waited for it.
func stopped(ctx context.Context, container string) error {
	out, err := docker(ctx, "inspect", "--format", "{{.State.ExitCode}}", container)
	if code := strings.TrimSpace(string(out)); err == nil && code == "255" {
		return fmt.Errorf("container %s exited (status 255; if it runs systemd, root's inotify instances may have run out: %s)", container, inotifyFix)
	}
	return fmt.Errorf("container %s stopped: see `docker logs %s`", container, container)
}
