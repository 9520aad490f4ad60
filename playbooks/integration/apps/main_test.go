// Package apps tests the built-in app-server layers on real hosts:
// nodejs, python, ruby and worker. Each test deploys a small app from a
// local directory, checks what it serves (or does) from another host,
// then deploys a new release and checks that it took over.
package apps

import (
	"os"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// pool is the package's fleet; each test takes hosts of its own.
var pool *playtest.Pool

// poolSize is how many hosts the package's tests take together: one per
// layer's test, and one client the HTTP tests share.
const poolSize = 5

func TestMain(m *testing.M) { os.Exit(playtest.Main(m, &pool, "apps", poolSize)) }
