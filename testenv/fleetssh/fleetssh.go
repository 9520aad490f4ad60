// Package fleetssh connects tests to testenv hosts the way a run does:
// through the fleet's own inventory.hcl and the real SSH transport, with
// no ssh_config. It is separate from testenv so that the transport's own
// tests can use testenv without an import cycle.
package fleetssh

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/sshconn"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/testenv"
)

// Dial connects to the fleet's host named host and closes the connection
// when the test ends.
func Dial(t testing.TB, fleet *testenv.Fleet, host string) transport.Conn {
	t.Helper()
	inv, diags := inventory.LoadFiles(hclparse.NewParser(), fleet.InventoryPath)
	if diags.HasErrors() {
		t.Fatalf("load inventory: %v", diags)
	}
	h := inv.Host(host)
	if h == nil {
		t.Fatalf("fleet %s has no host %q", fleet.Name, host)
	}
	d, err := sshconn.NewDialer(sshconn.Options{SSHConfigFile: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.Dial(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
