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

// poolSize is how many hosts the package's tests take together: nginx 2,
// haproxy 4, static 2, monitoring 2.
const poolSize = 10

func TestMain(m *testing.M) { os.Exit(playtest.Main(m, &pool, "web", poolSize)) }
