package sshconn

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/opsrun/opsrun/engine/transport"
)

// keepAlive probes a connection the way OpenSSH's ServerAliveInterval does,
// because a host that dies without closing TCP (power loss, a killed
// container behind a proxy) would otherwise leave commands waiting forever.
type keepAlive struct {
	client   *ssh.Client
	interval time.Duration
	max      int
	log      *slog.Logger
	host     string

	done chan struct{} // closed when the connection has ended, for any reason

	mu     sync.Mutex
	reason error // set when the probes killed the connection
}

// startKeepAlive starts probing client (unless interval is 0) and watching
// for its end.
func startKeepAlive(client *ssh.Client, interval time.Duration, max int, log *slog.Logger, host string) *keepAlive {
	k := &keepAlive{client: client, interval: interval, max: max, log: log, host: host, done: make(chan struct{})}
	go func() {
		_ = client.Wait()
		close(k.done)
	}()
	if interval > 0 {
		go k.run()
	}
	return k
}

// run sends keepalive@openssh.com requests; any reply, even a refusal,
// proves the server alive. After max probes in a row go unanswered it
// closes the connection.
func (k *keepAlive) run() {
	t := time.NewTicker(k.interval)
	defer t.Stop()
	var pending chan error
	missed := 0
	for {
		select {
		case <-k.done:
			return
		case err := <-pending:
			pending = nil
			if err != nil {
				return // the connection is closing; Wait will report it
			}
			missed = 0
		case <-t.C:
			if pending != nil {
				missed++
				if missed >= k.max {
					k.mu.Lock()
					k.reason = fmt.Errorf("%w: no answer to %d keepalives in %s", transport.ErrUnreachable, missed, time.Duration(missed)*k.interval)
					k.mu.Unlock()
					k.log.Debug("keepalive timeout, closing connection", "host", k.host, "missed", missed)
					k.client.Close()
					return
				}
				continue
			}
			pending = make(chan error, 1)
			go func(ch chan error) {
				_, _, err := k.client.SendRequest("keepalive@openssh.com", true, nil)
				ch <- err
			}(pending)
		}
	}
}

// lost returns why the connection ended, or nil while it is up.
func (k *keepAlive) lost() error {
	select {
	case <-k.done:
	default:
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.reason != nil {
		return k.reason
	}
	return fmt.Errorf("%w: connection closed", transport.ErrUnreachable)
}
