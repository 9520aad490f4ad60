// Package hostkeys verifies SSH host keys against OpenSSH known_hosts files,
// the way OpenSSH does: strictly by default, or recording keys of hosts seen
// for the first time (accept-new). A key that differs from the recorded one
// is always refused; there is no insecure mode to switch that off.
package hostkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/opsrun/opsrun/engine/transport"
)

// Mode says what to do with a host that has no known_hosts entry.
type Mode int

const (
	// Strict refuses unknown hosts (OpenSSH StrictHostKeyChecking=yes).
	Strict Mode = iota
	// AcceptNew records an unknown host's key in the first known_hosts file
	// and accepts it (OpenSSH StrictHostKeyChecking=accept-new).
	AcceptNew
)

// UnknownError reports a host with no known_hosts entry under Strict. It
// wraps transport.ErrHostKeyUnknown and says how to fix it.
type UnknownError struct {
	Addr        string // host:port as dialed
	File        string // the known_hosts file the key should go to
	Fingerprint string // SHA256 fingerprint of the key the server offered
}

// Error says which file to add the key to, and how.
func (e *UnknownError) Error() string {
	host, port, err := net.SplitHostPort(e.Addr)
	if err != nil {
		host, port = e.Addr, "22"
	}
	return fmt.Sprintf("%v: %s offered %s, which is not in %s: verify it and add it with `ssh-keyscan -p %s %s >> %s`, or set host_key_checking = \"accept-new\"",
		transport.ErrHostKeyUnknown, e.Addr, e.Fingerprint, e.File, port, host, e.File)
}

// Unwrap makes errors.Is(err, transport.ErrHostKeyUnknown) hold.
func (e *UnknownError) Unwrap() error { return transport.ErrHostKeyUnknown }

// MismatchError reports a host whose key differs from the recorded one (or
// was revoked). It wraps transport.ErrHostKeyMismatch and names the
// known_hosts line so the operator can check and fix exactly that entry.
type MismatchError struct {
	Addr        string
	File        string
	Line        int
	Fingerprint string // of the key the server offered
	Revoked     bool
}

// Error names the known_hosts line that records a different key.
func (e *MismatchError) Error() string {
	if e.Revoked {
		return fmt.Sprintf("%v: %s offered %s, which is marked @revoked at %s:%d", transport.ErrHostKeyMismatch, e.Addr, e.Fingerprint, e.File, e.Line)
	}
	return fmt.Sprintf("%v: %s offered %s, but %s:%d records a different key: the host was reinstalled or someone is intercepting the connection; if the change is expected, remove that line (ssh-keygen -R) and connect again",
		transport.ErrHostKeyMismatch, e.Addr, e.Fingerprint, e.File, e.Line)
}

// Unwrap makes errors.Is(err, transport.ErrHostKeyMismatch) hold.
func (e *MismatchError) Unwrap() error { return transport.ErrHostKeyMismatch }

// Verifier checks host keys. One Verifier serves a whole run: it serializes
// accept-new appends within the process (and locks the file against other
// processes), and re-reads the files on every check so that a key recorded
// by one connection is seen by the next.
type Verifier struct {
	mu    sync.Mutex // held while appending
	once  sync.Once
	probe ssh.PublicKey
}

// Callback returns an ssh.HostKeyCallback checking against files. The
// hostname the callback receives must be the host:port that was dialed.
func (v *Verifier) Callback(files []string, mode Mode) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		return v.check(files, mode, hostname, key)
	}
}

// zeroAddr stands in for the remote address: known_hosts entries are matched
// by the name that was dialed, which is what opsrun records.
var zeroAddr = &net.TCPAddr{IP: net.IPv4zero}

func (v *Verifier) check(files []string, mode Mode, hostname string, key ssh.PublicKey) error {
	if len(files) == 0 {
		return fmt.Errorf("%w: no known_hosts file configured", transport.ErrConfig)
	}
	err := lookup(files, hostname, key)
	if err == nil || mode != AcceptNew || !errors.Is(err, transport.ErrHostKeyUnknown) {
		return err
	}
	return v.record(files, hostname, key)
}

// lookup checks key for hostname against the current contents of files.
func lookup(files []string, hostname string, key ssh.PublicKey) error {
	cb, err := load(files)
	if err != nil {
		return err
	}
	err = cb(hostname, zeroAddr, key)
	if err == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		if len(ke.Want) == 0 {
			return &UnknownError{Addr: hostname, File: files[0], Fingerprint: ssh.FingerprintSHA256(key)}
		}
		// Name the entry of the same key type: that is the one that changed.
		want := ke.Want[0]
		for _, w := range ke.Want {
			if w.Key.Type() == key.Type() {
				want = w
				break
			}
		}
		return &MismatchError{Addr: hostname, File: want.Filename, Line: want.Line, Fingerprint: ssh.FingerprintSHA256(key)}
	}
	var re *knownhosts.RevokedError
	if errors.As(err, &re) {
		return &MismatchError{Addr: hostname, File: re.Revoked.Filename, Line: re.Revoked.Line, Fingerprint: ssh.FingerprintSHA256(key), Revoked: true}
	}
	return fmt.Errorf("%w: checking host key of %s: %v", transport.ErrConfig, hostname, err)
}

// load parses the files that exist; a missing file is an empty one, as in
// OpenSSH, but an unreadable one is an error.
func load(files []string) (ssh.HostKeyCallback, error) {
	var present []string
	for _, f := range files {
		_, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: known_hosts %s: %v", transport.ErrConfig, f, err)
		}
		present = append(present, f)
	}
	cb, err := knownhosts.New(present...)
	if err != nil {
		return nil, fmt.Errorf("%w: known_hosts: %v", transport.ErrConfig, err)
	}
	return cb, nil
}

// record appends hostname's key to files[0] unless, once the locks are held,
// some other writer turns out to have recorded it already.
func (v *Verifier) record(files []string, hostname string, key ssh.PublicKey) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	file := files[0]
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("%w: recording host key of %s: %v", transport.ErrConfig, hostname, err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("%w: recording host key of %s: %v", transport.ErrConfig, hostname, err)
	}
	defer f.Close()
	unlock, err := lockFile(f)
	if err != nil {
		return fmt.Errorf("%w: locking %s: %v", transport.ErrConfig, file, err)
	}
	defer unlock()

	// Another process (or a racing dial of the same host) may have written
	// the key between our check and the lock.
	if err := lookup(files, hostname, key); !errors.Is(err, transport.ErrHostKeyUnknown) {
		return err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	if needsNewline(f) {
		line = "\n" + line
	}
	if _, err := io.WriteString(f, line); err != nil {
		return fmt.Errorf("%w: recording host key of %s in %s: %v", transport.ErrConfig, hostname, file, err)
	}
	return nil
}

// needsNewline reports whether f is non-empty and lacks a final newline, so
// an appended entry would join the last line.
func needsNewline(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return false
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, st.Size()-1); err != nil {
		return false
	}
	return b[0] != '\n'
}

// Algorithms returns the host key algorithms to offer hostname, in order,
// given the key types recorded for it, or nil when none are recorded (then
// the library default applies). Without this, a server with an ed25519 key
// whose RSA key alone is recorded would present ed25519 and look changed.
func (v *Verifier) Algorithms(files []string, hostname string) []string {
	cb, err := load(files)
	if err != nil {
		return nil // the real check will report the problem
	}
	v.once.Do(func() {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err == nil {
			v.probe, _ = ssh.NewPublicKey(pub)
		}
	})
	if v.probe == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(cb(hostname, zeroAddr, v.probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, w := range ke.Want {
		for _, a := range algorithmsFor(w.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// algorithmsFor maps a key type to the signature algorithms that verify it:
// an RSA key is used with SHA-2 signatures first, as modern servers require.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}
