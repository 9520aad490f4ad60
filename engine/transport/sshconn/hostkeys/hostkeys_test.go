package hostkeys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/opsrun/opsrun/engine/transport"
)

func edKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func line(addr string, k ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, k) + "\n"
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

const addr = "web1.example.com:2222"

func TestKnownKeyAccepted(t *testing.T) {
	k := edKey(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	write(t, kh, "# comment\n"+line("other:22", edKey(t))+line(addr, k))
	var v Verifier
	if err := v.Callback([]string{kh}, Strict)(addr, nil, k); err != nil {
		t.Fatalf("known key refused: %v", err)
	}
}

func TestUnknownStrict(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts") // does not exist: like a fresh machine
	var v Verifier
	err := v.Callback([]string{kh}, Strict)(addr, nil, edKey(t))
	var ue *UnknownError
	if !errors.Is(err, transport.ErrHostKeyUnknown) || !errors.As(err, &ue) {
		t.Fatalf("got %v, want ErrHostKeyUnknown", err)
	}
	for _, want := range []string{kh, "ssh-keyscan -p 2222 web1.example.com >> " + kh, `host_key_checking = "accept-new"`, "SHA256:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(kh); !os.IsNotExist(err) {
		t.Errorf("strict check created %s", kh)
	}
}

func TestAcceptNewRecordsOnceAndIsSeenNextTime(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssh") // missing dir: created 0700
	kh := filepath.Join(dir, "known_hosts")
	k := edKey(t)
	var v Verifier
	if err := v.Callback([]string{kh}, AcceptNew)(addr, nil, k); err != nil {
		t.Fatalf("accept-new refused an unknown host: %v", err)
	}
	got := lines(t, kh)
	if want := []string{strings.TrimSpace(line(addr, k))}; !reflect.DeepEqual(got, want) {
		t.Fatalf("known_hosts = %q, want %q", got, want)
	}
	if st, _ := os.Stat(kh); st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %v, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", st.Mode().Perm())
	}
	// Later connections in the same run, even strict ones, see the line.
	if err := v.Callback([]string{kh}, Strict)(addr, nil, k); err != nil {
		t.Fatalf("strict check after accept-new: %v", err)
	}
	if err := v.Callback([]string{kh}, AcceptNew)(addr, nil, k); err != nil || len(lines(t, kh)) != 1 {
		t.Fatalf("second accept-new: %v, %d lines", err, len(lines(t, kh)))
	}
	// A changed key is refused even in accept-new.
	if err := v.Callback([]string{kh}, AcceptNew)(addr, nil, edKey(t)); !errors.Is(err, transport.ErrHostKeyMismatch) {
		t.Fatalf("changed key under accept-new: %v, want ErrHostKeyMismatch", err)
	}
}

func TestAcceptNewConcurrentWritesOneLine(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "known_hosts")
	// A last line without its newline must not be joined by the append.
	write(t, kh, strings.TrimSuffix(line("other:22", edKey(t)), "\n"))
	k := edKey(t)
	var wg sync.WaitGroup
	var v Verifier
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- v.Callback([]string{kh}, AcceptNew)(addr, nil, k)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := lines(t, kh)
	if len(got) != 2 || got[1] != strings.TrimSpace(line(addr, k)) {
		t.Fatalf("known_hosts = %q, want the old line and exactly one new one", got)
	}
}

func TestChangedKeyNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	kh1, kh2 := filepath.Join(dir, "kh1"), filepath.Join(dir, "kh2")
	write(t, kh1, line("a:22", edKey(t)))
	write(t, kh2, "# header\n"+line("b:22", edKey(t))+line(addr, edKey(t)))
	var v Verifier
	for _, mode := range []Mode{Strict, AcceptNew} {
		err := v.Callback([]string{kh1, kh2}, mode)(addr, nil, edKey(t))
		var me *MismatchError
		if !errors.Is(err, transport.ErrHostKeyMismatch) || !errors.As(err, &me) {
			t.Fatalf("mode %d: %v, want ErrHostKeyMismatch", mode, err)
		}
		if want := kh2 + ":3"; !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %s", err, want)
		}
	}
	if got := lines(t, kh1); len(got) != 1 {
		t.Errorf("a mismatch wrote to known_hosts: %q", got)
	}
}

func TestRevokedKeyRefused(t *testing.T) {
	k := edKey(t)
	kh := filepath.Join(t.TempDir(), "kh")
	write(t, kh, line(addr, k)+"@revoked * "+string(ssh.MarshalAuthorizedKey(k)))
	var v Verifier
	if err := v.Callback([]string{kh}, AcceptNew)(addr, nil, k); !errors.Is(err, transport.ErrHostKeyMismatch) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked key: %v", err)
	}
}

func TestAlgorithmsFromRecordedTypes(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, _ := ssh.NewPublicKey(&rk.PublicKey)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPub, _ := ssh.NewPublicKey(&ek.PublicKey)
	kh := filepath.Join(t.TempDir(), "kh")
	write(t, kh, line(addr, rsaPub)+line("other:22", edKey(t))+line(addr, ecPub))
	var v Verifier
	got := v.Algorithms([]string{kh}, addr)
	want := []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA, ssh.KeyAlgoECDSA256}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Algorithms = %v, want %v", got, want)
	}
	if got := v.Algorithms([]string{kh}, "unknown:22"); got != nil {
		t.Errorf("Algorithms for an unknown host = %v, want nil (library default)", got)
	}
	if got := v.Algorithms([]string{filepath.Join(t.TempDir(), "missing")}, addr); got != nil {
		t.Errorf("Algorithms without a file = %v", got)
	}
}

func TestUnreadableKnownHostsIsConfigError(t *testing.T) {
	kh := filepath.Join(t.TempDir(), "kh")
	write(t, kh, "this is not a known_hosts line\n")
	var v Verifier
	if err := v.Callback([]string{kh}, Strict)(addr, nil, edKey(t)); !errors.Is(err, transport.ErrConfig) {
		t.Fatalf("garbage known_hosts: %v, want ErrConfig", err)
	}
	if err := v.Callback(nil, Strict)(addr, nil, edKey(t)); !errors.Is(err, transport.ErrConfig) {
		t.Fatalf("no files: %v, want ErrConfig", err)
	}
}
