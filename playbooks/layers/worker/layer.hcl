# worker: an app run as processes supervised by systemd, without a port (a
# queue consumer, a scheduler): instances 1..processes of the template
# unit opsrun-APP-worker@.service, each with WORKER set to its number.
# Settings are read as self.settings: the stack may call the layer
# anything. One layer runs one app, the first on it (self.apps[0]): there
# is no for_each to write a unit per app.

# The template unit is written by configure (settings changed) and by
# deploy (current exists only after one), the same bytes from both. The
# command is escaped for systemd: in a double-quoted word it reads \\ and
# \" as C escapes, $$ as a dollar sign (it would expand $VAR itself) and
# %% as a percent sign (% starts a specifier), and \n as a newline.
recipe "unit" {
  file "unit" {
    path    = "/etc/systemd/system/opsrun-${self.apps[0].name}-worker@.service"
    content = <<-EOT
      # Written by opsrun (built-in layer worker, stack layer ${self.name}).
      [Unit]
      Description=${self.apps[0].name}: worker %i (opsrun layer ${self.name})
      After=network.target

      [Service]
      WorkingDirectory=${self.apps[0].current}
      Environment=WORKER=%i
      EnvironmentFile=-${self.apps[0].current}/.env
      ExecStart=/bin/sh -c "${replace(replace(replace(replace(replace(self.settings.command, "\\", "\\\\"), "\"", "\\\""), "$", "$$"), "%", "%%"), "\n", "\\n")}"
      User=${self.apps[0].user != "" ? self.apps[0].user : self.settings.user}
      KillSignal=SIGTERM
      TimeoutStopSec=${self.settings.stop_timeout}
      Restart=on-failure

      [Install]
      WantedBy=multi-user.target
    EOT
    only_if = length(self.apps) > 0 && self.settings.command != ""
  }
}

# Without a command there is nothing to run: say so on the host, since a
# built-in layer cannot check a stack's settings when it is loaded.
recipe "require_command" {
  command "require_command" {
    command = "echo 'layer ${self.name} (built-in worker) runs app ${self.apps[0].name} but its settings.command is empty: set it to the command that runs a worker in the release directory, like \"./worker.sh\"' >&2; exit 1"
    only_if = length(self.apps) > 0 && self.settings.command == ""
  }
}

layer "worker" {
  settings = {
    processes    = 2
    command      = ""
    user         = "www-data"
    stop_timeout = 30
  }

  on "setup" {
    include "app_user" {}
  }

  on "configure" {
    include "require_command" {}
    include "unit" {}

    # A changed template (a new command, say) reaches running workers now,
    # one at a time.
    command "apply_unit" {
      command = "systemctl daemon-reload && for i in $(seq ${self.settings.processes}); do systemctl try-restart opsrun-${self.apps[0].name}-worker@$i; done"
      unless  = "for i in $(seq ${self.settings.processes}); do [ \"$(systemctl show --value -p NeedDaemonReload opsrun-${self.apps[0].name}-worker@$i)\" != yes ] || exit 1; done"
      only_if = length(self.apps) > 0 && self.settings.command != ""
    }

    # Workers 1..processes run once there is a release to run (before the
    # first deploy there is none: the deploy starts them).
    command "start" {
      command = "for i in $(seq ${self.settings.processes}); do systemctl enable --now opsrun-${self.apps[0].name}-worker@$i; done"
      unless  = "[ ! -e ${self.apps[0].current} ] || for i in $(seq ${self.settings.processes}); do systemctl is-active -q opsrun-${self.apps[0].name}-worker@$i && systemctl is-enabled -q opsrun-${self.apps[0].name}-worker@$i || exit 1; done"
      only_if = length(self.apps) > 0 && self.settings.command != "" && self.settings.processes > 0
    }

    # Workers above processes (it was lowered) are stopped, each given
    # stop_timeout to finish, and no longer started at boot.
    command "stop_extra" {
      command = "{ systemctl list-units --plain --no-legend --state=active 'opsrun-${self.apps[0].name}-worker@*'; ls /etc/systemd/system/multi-user.target.wants; } 2>/dev/null | grep -o 'opsrun-${self.apps[0].name}-worker@[^ ]*[.]service' | sort -u | grep -vxE 'opsrun-${self.apps[0].name}-worker@(${join("|", range(1, self.settings.processes + 1))})[.]service' | xargs -r systemctl disable --now"
      unless  = "[ -z \"$({ systemctl list-units --plain --no-legend --state=active 'opsrun-${self.apps[0].name}-worker@*'; ls /etc/systemd/system/multi-user.target.wants; } 2>/dev/null | grep -o 'opsrun-${self.apps[0].name}-worker@[^ ]*[.]service' | sort -u | grep -vxE 'opsrun-${self.apps[0].name}-worker@(${join("|", range(1, self.settings.processes + 1))})[.]service')\" ]"
      only_if = length(self.apps) > 0
    }
  }

  on "deploy" {
    include "require_command" {}
    include "unit" {}

    # One worker at a time: SIGTERM, up to stop_timeout for it to finish,
    # then a start in the new release, so the others keep consuming.
    # /run/opsrun-APP-worker.release records the release they run, so
    # running deploy again without a new release restarts nothing.
    command "restart" {
      command = <<-EOT
        set -e
        systemctl daemon-reload
        for i in $(seq ${self.settings.processes}); do
          systemctl enable -q opsrun-${self.apps[0].name}-worker@$i
          systemctl restart opsrun-${self.apps[0].name}-worker@$i
        done
        readlink -f ${self.apps[0].current} > /run/opsrun-${self.apps[0].name}-worker.release
      EOT
      unless  = "[ \"$(cat /run/opsrun-${self.apps[0].name}-worker.release 2>/dev/null)\" = \"$(readlink -f ${self.apps[0].current})\" ] && for i in $(seq ${self.settings.processes}); do u=opsrun-${self.apps[0].name}-worker@$i; systemctl is-active -q $u && systemctl is-enabled -q $u && [ \"$(systemctl show --value -p NeedDaemonReload $u)\" != yes ] || exit 1; done"
      only_if = length(self.apps) > 0 && self.settings.command != "" && self.settings.processes > 0
    }
  }

  on "undeploy" {
    # Every instance, whatever processes says now.
    command "stop" {
      command = "{ systemctl list-units --plain --no-legend --state=active 'opsrun-${self.apps[0].name}-worker@*'; ls /etc/systemd/system/multi-user.target.wants; } 2>/dev/null | grep -o 'opsrun-${self.apps[0].name}-worker@[^ ]*[.]service' | sort -u | xargs -r systemctl disable --now"
      unless  = "[ -z \"$({ systemctl list-units --plain --no-legend --state=active 'opsrun-${self.apps[0].name}-worker@*'; ls /etc/systemd/system/multi-user.target.wants; } 2>/dev/null | grep -o 'opsrun-${self.apps[0].name}-worker@[^ ]*[.]service')\" ]"
      only_if = length(self.apps) > 0
    }

    file "unit" {
      path    = "/etc/systemd/system/opsrun-${self.apps[0].name}-worker@.service"
      state   = "absent"
      notify  = [command.daemon_reload]
      only_if = length(self.apps) > 0
    }

    file "release" {
      path    = "/run/opsrun-${self.apps[0].name}-worker.release"
      state   = "absent"
      only_if = length(self.apps) > 0
    }

    include "daemon_reload" {}
  }

  on "shutdown" {
    # SIGTERM to every worker, each given stop_timeout to finish.
    command "stop" {
      command = "systemctl stop 'opsrun-${self.apps[0].name}-worker@*'"
      unless  = "[ -z \"$(systemctl list-units --plain --no-legend --state=active 'opsrun-${self.apps[0].name}-worker@*')\" ]"
      only_if = length(self.apps) > 0
    }
  }
}
