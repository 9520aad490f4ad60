# redis: Redis from the distribution, listening for the stack's other
# instances. Settings are read as self.settings: the stack may call the
# layer anything.
#
# The settings go to /etc/redis/opsrun.conf, included at the end of the
# distribution's redis.conf, where a directive wins over an earlier one:
# the rest of redis.conf stays the distribution's.

layer "redis" {
  settings = {
    port             = 6379
    bind             = "0.0.0.0"
    maxmemory        = "64mb"
    maxmemory_policy = "allkeys-lru"
    password         = ""
  }

  on "setup" {
    package "redis" {
      name = host.os.family == "rhel" ? "redis" : "redis-server"
    }

    service "redis" {
      name    = host.os.family == "rhel" ? "redis" : "redis-server"
      state   = "started"
      enabled = true
    }
  }

  on "configure" {
    # Readable by the redis group only: it may hold the password.
    # protected-mode would refuse every client but the host's own when no
    # password is set; bind (and the network) decide who connects instead.
    file "settings" {
      path    = "/etc/redis/opsrun.conf"
      mode    = "0640"
      group   = "redis"
      content = <<-EOT
        # Written by opsrun (built-in layer redis, stack layer ${self.name}).
        bind ${self.settings.bind}
        port ${self.settings.port}
        protected-mode no
        maxmemory ${self.settings.maxmemory}
        maxmemory-policy ${self.settings.maxmemory_policy}
        %{ if self.settings.password != "" }requirepass "${replace(replace(self.settings.password, "\\", "\\\\"), "\"", "\\\"")}"
        %{ endif ~}
      EOT
      notify  = [service.redis]
    }

    line "include" {
      path   = "/etc/redis/redis.conf"
      line   = "include /etc/redis/opsrun.conf"
      notify = [service.redis]
    }

    service "redis" {
      name  = host.os.family == "rhel" ? "redis" : "redis-server"
      state = "started"
    }
  }

  on "shutdown" {
    # Redis saves its dataset on the way down when persistence is on (the
    # distribution's save points).
    service "redis" {
      name  = host.os.family == "rhel" ? "redis" : "redis-server"
      state = "stopped"
    }
  }
}
