package transport

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/opsrun/opsrun/inventory"
)

// fakeDialer refuses the settings a test marks as bad.
type fakeDialer struct{}

func (fakeDialer) Check(h *inventory.Host) error {
	if h.SSH.ProxyJump == "bad" {
		return &HostError{Host: h.Name, Op: "connect", Err: fmt.Errorf("%w: ProxyJump %q is not valid", ErrConfig, "bad")}
	}
	if len(h.SSH.IdentityFiles) > 0 {
		return &HostError{Host: h.Name, Op: "connect", Err: fmt.Errorf("%w: identity file %s does not exist", ErrConfig, h.SSH.IdentityFiles[0])}
	}
	return nil
}

func (fakeDialer) Dial(context.Context, *inventory.Host) (Conn, error) { return nil, errors.New("no") }

func hosts(names ...string) []*inventory.Host {
	var hs []*inventory.Host
	for _, n := range names {
		hs = append(hs, &inventory.Host{Name: n})
	}
	return hs
}

func TestCheck(t *testing.T) {
	hs := hosts("a", "b", "c", "d", "e", "f", "g", "ok")
	for _, h := range hs[:7] {
		h.SSH.IdentityFiles = []string{"/k"}
	}
	hs[2].SSH.IdentityFiles = nil
	hs[2].SSH.ProxyJump = "bad"
	err := CheckAll(fakeDialer{}, hs)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("want ErrConfig, got %v", err)
	}
	want := "a, b, d, e, f and 1 more hosts: bad connection settings: identity file /k does not exist\n" +
		"c: bad connection settings: ProxyJump \"bad\" is not valid"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	if err := CheckAll(fakeDialer{}, hosts("x", "y")); err != nil {
		t.Errorf("good hosts: %v", err)
	}
}
