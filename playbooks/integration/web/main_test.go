// Package web tests the built-in web-tier layers on real hosts: nginx,
// haproxy, static and monitoring.
package web

import (
	"os"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// pool is the package's fleet; each test takes hosts of its own.
var pool *playtest.Pool

// poolSize is how many hosts the package's tests take together.
const poolSize = 2

func TestMain(m *testing.M) { os.Exit(playtest.Main(m, &pool, "web", poolSize)) }
