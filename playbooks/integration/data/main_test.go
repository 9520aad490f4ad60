// Package data tests the built-in data-tier layers on real hosts: mysql,
// postgresql, redis and memcached.
package data

import (
	"os"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// pool is the package's fleet; each test takes hosts of its own.
var pool *playtest.Pool

// poolSize is how many hosts the package's tests take together: mysql 4,
// postgresql 4, redis 2, memcached 2.
const poolSize = 12

func TestMain(m *testing.M) { os.Exit(playtest.Main(m, &pool, "data", poolSize)) }
