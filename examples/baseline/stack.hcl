# baseline: what every server of a fleet gets before its own role — an
# operations account with its SSH key and sudo, a few tools, kernel and
# sshd settings, a message of the day, a nightly cleanup job. Written once
# for Debian and RHEL hosts: where they differ, the values are expressions
# over the host's facts. Run it on a local fleet:
#
#   opsrun testenv up --name baseline --layers base:2
#   opsrun plan setup examples/baseline -i .opsrun/testenv/baseline/inventory.hcl --var apply_sysctl=false
#   opsrun run  setup examples/baseline -i .opsrun/testenv/baseline/inventory.hcl --var apply_sysctl=false
#
# (Docker mounts /proc/sys read-only, so test hosts only persist kernel
# settings; real servers apply them at once.)

stack "baseline" {
  forks = 50
}

variable "ops_keys" {
  type        = list(string)
  description = "SSH public keys allowed to log in as ops."
  default     = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMoRI6oiXA+jxZZ6X6Vw5oHSlVX2BmdmGQ18GKBTmdpj ops@example"]
}

variable "apply_sysctl" {
  type        = bool
  default     = true
  description = "Set kernel parameters now, not only at the next boot."
}

recipe "accounts" {
  group "ops" {
    name = "ops"
    gid  = 2500
  }

  user "ops" {
    name            = "ops"
    uid             = 2500
    group           = "ops"
    shell           = "/bin/bash"
    comment         = "Operations"
    authorized_keys = var.ops_keys
    depends_on      = [group.ops]
  }

  file "sudoers" {
    path    = "/etc/sudoers.d/ops"
    content = "ops ALL=(ALL) NOPASSWD: ALL\n"
    mode    = "0440"
  }
}

recipe "system" {
  package "tools" {
    name = host.os.family == "rhel" ? ["less", "cronie"] : ["less", "cron"]
  }

  service "cron" {
    name    = host.os.family == "rhel" ? "crond" : "cron"
    state   = "started"
    enabled = true
  }

  sysctl "syncookies" {
    name  = "net.ipv4.tcp_syncookies"
    value = "1"
    apply = var.apply_sysctl
  }

  line "sshd_no_passwords" {
    path   = "/etc/ssh/sshd_config"
    regexp = "^#?PasswordAuthentication "
    line   = "PasswordAuthentication no"
    notify = [service.sshd]
  }

  service "sshd" {
    name      = host.os.family == "rhel" ? "sshd" : "ssh"
    on_notify = "reload"
  }

  blockinfile "limits" {
    path  = "/etc/security/limits.conf"
    block = "ops soft nofile 65536\nops hard nofile 65536"
  }

  template "motd" {
    path   = "/etc/motd"
    source = "motd.tmpl"
    vars = {
      owner = "ops@example.com"
    }
  }

  cron "tmp_cleanup" {
    schedule = "@daily"
    command  = "find /tmp -xdev -type f -mtime +7 -delete"
  }
}

layer "base" {
  on "setup" {
    include "accounts" {}
    include "system" {}
  }
}
