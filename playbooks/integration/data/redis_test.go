package data

import (
	"strings"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// redisStack uses the redis layer under another name, with settings.
//
// Debian's redis-server.service asks for a user namespace
// (PrivateUsers=true), which testenv's containers cannot give a unit: the
// container layer, whose setup runs before the cache's, lifts that for
// redis-server alone. A virtual machine needs no such thing.
func redisStack(settings string) string {
	return `
variable "redis_password" {
  type      = string
  sensitive = true
  default   = "r3dis'pw"
}

layer "container" {
  on "setup" {
    directory "dropins" {
      path = "/etc/systemd/system/redis-server.service.d"
    }
    file "no_userns" {
      path    = "/etc/systemd/system/redis-server.service.d/testenv.conf"
      content = "[Service]\nPrivateUsers=false\n"
    }
  }
}

layer "cache" {
  use        = "redis"
  depends_on = ["container"]
  settings   = ` + settings + `
}

layer "client" {
  on "setup" {
    package "cli" {
      name = "redis-tools"
    }
  }
}
`
}

// TestRedis: another host's redis-cli gets PONG; maxmemory applies; a
// password, once set, is required.
func TestRedis(t *testing.T) {
	t.Parallel()
	hosts := pool.Take(t, 2)
	cache, client := hosts[0], hosts[1]
	ip := pool.IP(t, cache)
	layers := map[string][]string{"container": {cache}, "cache": {cache}, "client": {client}}
	s := pool.NewStack(t, map[string]string{"stack.hcl": redisStack(`{ maxmemory = "32mb" }`)}, layers)
	s.Converge()
	if out := pool.Sh(t, client, "redis-cli -h "+ip+" ping"); strings.TrimSpace(out) != "PONG" {
		t.Errorf("redis-cli ping: %q", out)
	}
	if out := pool.Sh(t, client, "redis-cli -h "+ip+" config get maxmemory"); strings.Join(strings.Fields(out), " ") != "maxmemory 33554432" {
		t.Errorf("config get maxmemory: %q", out)
	}

	// A password: configure sets it, and then changes nothing.
	writeStack(t, s, redisStack(`{ password = var.redis_password }`))
	s.Load(layers)
	o := s.Run("configure")
	if o.Totals.Changed == 0 {
		t.Errorf("configure with a password changed nothing")
	}
	if o := s.Run("configure"); o.Totals.Changed != 0 {
		t.Errorf("configure again changed %d resources: %s", o.Totals.Changed, o.Changed())
	}
	if out := pool.Sh(t, client, "redis-cli -h "+ip+" ping 2>&1; true"); !strings.Contains(out, "NOAUTH") {
		t.Errorf("redis-cli ping without the password: %q", out)
	}
	if out := pool.Sh(t, client, "REDISCLI_AUTH="+shq("r3dis'pw")+" redis-cli -h "+ip+" ping"); strings.TrimSpace(out) != "PONG" {
		t.Errorf("redis-cli ping with the password: %q", out)
	}
	noSecret(t, []playtest.Outcome{o}, "r3dis'pw")
}
