// Package apps2 tests the built-in app-server layers java, php and go on
// real hosts. Each test deploys a small app from a local directory,
// checks what it serves from another host, deploys a new release and
// checks that it took over, then undeploys it (or shuts it down).
package apps2

import (
	"os"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// pool is the package's fleet; each test takes hosts of its own.
var pool *playtest.Pool

// poolSize is how many hosts the package's tests take together: one per
// layer's test, and one client they share.
const poolSize = 4

func TestMain(m *testing.M) { os.Exit(playtest.Main(m, &pool, "apps2", poolSize)) }
