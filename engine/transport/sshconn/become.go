package sshconn

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/opsrun/opsrun/engine/transport"
)

// maxSudoOutput bounds what is kept of sudo's own messages for an error.
const maxSudoOutput = 4 << 10

// become is one sudo invocation: the tokens that let us tell sudo's prompt
// and the start of the real command apart from anything the command prints.
type become struct {
	user     string
	password bool   // a become password is configured: -S with our prompt, else -n
	prompt   string // random, so no command output can be mistaken for it
	marker   string // printed by the target user's shell once sudo let it run
}

// newBecome makes fresh random tokens for one command.
func newBecome(user string, password bool) (*become, error) {
	tok := make([]byte, 12)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("become token: %w", err)
	}
	h := hex.EncodeToString(tok)
	if user == "" {
		user = "root"
	}
	return &become{
		user:     user,
		password: password,
		prompt:   "[opsrun-sudo-" + h[:12] + "] password:",
		marker:   "opsrun-become-" + h[12:],
	}, nil
}

// command wraps cmd so that sudo runs it as b.user. The password never
// appears here: it goes to sudo's stdin when the prompt shows (-k makes
// sudo always ask, so a cached timestamp cannot leave the password line
// unread in the command's stdin). The inner shell prints the marker to
// stderr before exec'ing the command, which proves sudo accepted.
func (b *become) command(cmd string) string {
	flags := "-n"
	if b.password {
		flags = "-k -S -p " + transport.ShellQuote(b.prompt)
	}
	script := `printf %s ` + b.marker + ` >&2; exec sh -c "$1"`
	return "sudo " + flags + " -H -u " + transport.ShellQuote(b.user) + " -- sh -c " +
		transport.ShellQuote(script) + " sh " + transport.ShellQuote(cmd)
}

// stderrFilter reads the stderr of a sudo-wrapped command. Before the
// marker it finds prompts (reporting each to onPrompt) and keeps sudo's own
// messages; from the marker on it passes everything through. Prompts and
// the marker never reach out. Tokens split across writes are found.
type stderrFilter struct {
	prompt, marker []byte
	out            io.Writer
	onPrompt       func(n int) // the n-th prompt was seen
	onMarker       func()

	mu      sync.Mutex
	pending []byte // unscanned bytes that may start a token
	passed  bool
	prompts int
	sudo    bytes.Buffer // sudo's messages (bounded), for the error
}

func newStderrFilter(b *become, out io.Writer, onPrompt func(int), onMarker func()) *stderrFilter {
	return &stderrFilter{prompt: []byte(b.prompt), marker: []byte(b.marker), out: out, onPrompt: onPrompt, onMarker: onMarker}
}

// Write implements io.Writer for the session's stderr.
func (f *stderrFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.passed {
		if _, err := f.out.Write(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	f.pending = append(f.pending, p...)
	for !f.passed {
		ip := bytes.Index(f.pending, f.prompt)
		im := bytes.Index(f.pending, f.marker)
		switch {
		case ip >= 0 && (im < 0 || ip < im):
			if err := f.emit(f.pending[:ip]); err != nil {
				return 0, err
			}
			f.pending = f.pending[ip+len(f.prompt):]
			f.prompts++
			if f.onPrompt != nil {
				f.onPrompt(f.prompts)
			}
		case im >= 0:
			if err := f.emit(f.pending[:im]); err != nil {
				return 0, err
			}
			rest := f.pending[im+len(f.marker):]
			f.pending = nil
			f.passed = true
			if f.onMarker != nil {
				f.onMarker()
			}
			if len(rest) > 0 {
				if _, err := f.out.Write(rest); err != nil {
					return 0, err
				}
			}
		default:
			keep := partialSuffix(f.pending, f.prompt)
			if k := partialSuffix(f.pending, f.marker); k > keep {
				keep = k
			}
			if err := f.emit(f.pending[:len(f.pending)-keep]); err != nil {
				return 0, err
			}
			f.pending = append([]byte(nil), f.pending[len(f.pending)-keep:]...)
			return len(p), nil
		}
	}
	return len(p), nil
}

// emit forwards sudo's own text (warnings, "Sorry, try again.") and keeps
// it for the error message.
func (f *stderrFilter) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if room := maxSudoOutput - f.sudo.Len(); room > 0 {
		f.sudo.Write(b[:min(room, len(b))])
	}
	_, err := f.out.Write(b)
	return err
}

// Flush emits what was held back as a possible token start; call it once
// the command has ended.
func (f *stderrFilter) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pending
	f.pending = nil
	if f.passed {
		_, err := f.out.Write(p)
		return err
	}
	return f.emit(p)
}

// Passed reports whether the marker was seen, i.e. sudo ran the command.
func (f *stderrFilter) Passed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.passed
}

// SudoOutput is what sudo printed before (or instead of) running the command.
func (f *stderrFilter) SudoOutput() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.TrimSpace(f.sudo.String())
}

// partialSuffix returns the length of the longest suffix of b that is a
// proper prefix of tok: bytes that may be the start of a token split
// across writes.
func partialSuffix(b, tok []byte) int {
	n := min(len(tok)-1, len(b))
	for ; n > 0; n-- {
		if bytes.HasSuffix(b, tok[:n]) {
			return n
		}
	}
	return 0
}

// becomeError explains a refusal by sudo, with the fix when it is a
// common one.
func becomeError(user, sudoOut string, wrongPassword bool) error {
	if wrongPassword {
		return fmt.Errorf("%w: sudo: incorrect password (become_password) for sudo to %s", transport.ErrBecomeFailed, user)
	}
	msg := sudoOut
	if msg == "" {
		msg = "sudo exited before running the command"
	}
	hint := ""
	switch {
	case strings.Contains(sudoOut, "password is required"):
		hint = ": set become_password for this host, or give the login user NOPASSWD in sudoers"
	case strings.Contains(sudoOut, "not in the sudoers") || strings.Contains(sudoOut, "not allowed"):
		hint = ": allow the login user in sudoers"
	case strings.Contains(sudoOut, "not found"):
		hint = ": install sudo on the host"
	}
	return fmt.Errorf("%w: sudo to %s: %s%s", transport.ErrBecomeFailed, user, msg, hint)
}

// killScript signals a sudo-wrapped command and everything it started. It
// is needed because sshd sends a cancelled session's signal as the login
// user: that reaches sudo, which relays it to the command's top process
// only, and the root-owned rest (a `sleep` under `sh -c`) would live on.
// So a second sudo finds the processes whose command line holds the
// marker (sudo's own argv), then their descendants through /proc, and
// signals them all. The marker comes in two halves so that this script's
// own command line never matches it. Linux /proc only; POSIX sh builtins in
// the loops so that it stays fast on a busy host.
const killScript = `m="$1$2"; sig=$3; roots=
for f in $(grep -l -F -e "$m" /proc/[0-9]*/cmdline 2>/dev/null); do p=${f#/proc/}; roots="$roots ${p%/cmdline}"; done
[ -n "$roots" ] || exit 0
all=$roots; frontier=$roots
while [ -n "$frontier" ]; do
  next=
  for d in /proc/[0-9]*; do
    read -r s < "$d/stat" 2>/dev/null || continue
    s=${s##*) }; set -- $s
    for p in $frontier; do [ "$2" = "$p" ] && next="$next ${d#/proc/}"; done
  done
  all="$all $next"; frontier=$next
done
kill -s "$sig" $all 2>/dev/null
exit 0`

// killCommand is the command that sends sig to b's command tree; run it
// with the same become settings as the command.
func (b *become) killCommand(sig string) string {
	half := len(b.marker) / 2
	return "sh -c " + transport.ShellQuote(killScript) + " sh " +
		transport.ShellJoin(b.marker[:half], b.marker[half:], sig)
}
