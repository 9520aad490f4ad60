package data

import (
	"strings"
	"testing"
)

// TestMemcached: another host gets memcached's stats, with memory_mb
// applied.
func TestMemcached(t *testing.T) {
	t.Parallel()
	hosts := pool.Take(t, 2)
	cache, client := hosts[0], hosts[1]
	s := pool.NewStack(t, map[string]string{"stack.hcl": `
layer "cache" {
  use      = "memcached"
  settings = { memory_mb = 32 }
}
layer "client" {}
`}, map[string][]string{"cache": {cache}, "client": {client}})
	s.Converge()
	script := `exec 3<>"/dev/tcp/$0/11211" || exit 7
printf 'stats\r\nquit\r\n' >&3
timeout 10 cat <&3`
	out := pool.Sh(t, client, "bash -c "+shq(script)+" "+pool.IP(t, cache))
	if !strings.Contains(out, "STAT pid ") || !strings.Contains(out, "STAT limit_maxbytes 33554432\r\n") {
		t.Errorf("stats:\n%s", out)
	}
}
