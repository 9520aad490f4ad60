# memcached: a memory cache for the stack's other instances. Settings are
# read as self.settings: the stack may call the layer anything.
#
# Debian's init reads one option a line from /etc/memcached.conf; RHEL's
# unit reads shell variables from /etc/sysconfig/memcached. Each setting
# is one line of either, and the rest of the file is left as it is.

layer "memcached" {
  settings = {
    port      = 11211
    listen    = "0.0.0.0"
    memory_mb = 64
  }

  on "setup" {
    package "memcached" {
      name = "memcached"
    }

    service "memcached" {
      name    = "memcached"
      state   = "started"
      enabled = true
    }
  }

  on "configure" {
    line "listen" {
      path   = host.os.family == "rhel" ? "/etc/sysconfig/memcached" : "/etc/memcached.conf"
      line   = host.os.family == "rhel" ? "OPTIONS=\"-l ${self.settings.listen}\"" : "-l ${self.settings.listen}"
      regexp = host.os.family == "rhel" ? "^OPTIONS=" : "^-l\\s"
      notify = [service.memcached]
    }

    line "port" {
      path   = host.os.family == "rhel" ? "/etc/sysconfig/memcached" : "/etc/memcached.conf"
      line   = host.os.family == "rhel" ? "PORT=\"${self.settings.port}\"" : "-p ${self.settings.port}"
      regexp = host.os.family == "rhel" ? "^PORT=" : "^-p\\s"
      notify = [service.memcached]
    }

    line "memory" {
      path   = host.os.family == "rhel" ? "/etc/sysconfig/memcached" : "/etc/memcached.conf"
      line   = host.os.family == "rhel" ? "CACHESIZE=\"${self.settings.memory_mb}\"" : "-m ${self.settings.memory_mb}"
      regexp = host.os.family == "rhel" ? "^CACHESIZE=" : "^-m\\s"
      notify = [service.memcached]
    }

    service "memcached" {
      name  = "memcached"
      state = "started"
    }
  }

  on "shutdown" {
    service "memcached" {
      name  = "memcached"
      state = "stopped"
    }
  }
}
