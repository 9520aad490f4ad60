# go: a compiled binary (Go, or anything static) shipped in the release
# and run by systemd from the release that current points to. The host
# needs no toolchain: the binary is built on the operator's machine by
# the app's local_build. Settings are read as self.settings: the stack
# may call the layer anything. One layer serves one app, the first on it
# (self.apps[0]): there is no for_each to write a unit per app.

# The unit is written by configure (settings changed) and by deploy
# (current exists only after one), the same bytes from both.
recipe "unit" {
  file "unit" {
    path    = "/etc/systemd/system/opsrun-${self.apps[0].name}.service"
    content = <<-EOT
      # Written by opsrun (built-in layer go, stack layer ${self.name}).
      [Unit]
      Description=${self.apps[0].name}: Go app (opsrun layer ${self.name})
      After=network.target

      [Service]
      WorkingDirectory=${self.apps[0].current}
      Environment=PORT=${self.settings.port}
      EnvironmentFile=-${self.apps[0].current}/.env
      ExecStart=${self.apps[0].current}/${self.settings.binary} ${self.settings.args}
      User=${self.apps[0].user != "" ? self.apps[0].user : self.settings.user}
      Restart=on-failure

      [Install]
      WantedBy=multi-user.target
    EOT
    only_if = length(self.apps) > 0
  }
}

layer "go" {
  settings = {
    port        = 8080
    user        = "www-data"
    binary      = "bin/app"
    args        = ""
    health_path = "/"
  }

  on "setup" {
    user "runner" {
      name        = self.settings.user
      system      = true
      create_home = false
      only_if     = self.settings.user != "root"
    }
  }

  on "configure" {
    include "unit" {}

    # A unit changed under a running app (new args, say) takes effect
    # now; a stopped one stays stopped until the deploy starts it.
    command "apply_unit" {
      command = "systemctl daemon-reload && systemctl try-restart opsrun-${self.apps[0].name}"
      unless  = "[ \"$(systemctl show --value -p NeedDaemonReload opsrun-${self.apps[0].name})\" != yes ]"
      only_if = length(self.apps) > 0
    }
  }

  on "deploy" {
    include "unit" {}

    # A new binary needs a new process: the app is restarted in the new
    # release. /run/opsrun-APP.release records the release it loaded, so
    # running deploy again without a new release restarts nothing.
    command "restart" {
      command = <<-EOT
        set -e
        unit=opsrun-${self.apps[0].name}
        if [ "$(systemctl show --value -p NeedDaemonReload $unit)" = yes ]; then systemctl daemon-reload; fi
        systemctl restart $unit
        readlink -f ${self.apps[0].current} > /run/$unit.release
      EOT
      unless  = "[ \"$(cat /run/opsrun-${self.apps[0].name}.release 2>/dev/null)\" = \"$(readlink -f ${self.apps[0].current})\" ] && systemctl is-active -q opsrun-${self.apps[0].name} && [ \"$(systemctl show --value -p NeedDaemonReload opsrun-${self.apps[0].name})\" != yes ]"
      only_if = length(self.apps) > 0
    }

    service "app" {
      name    = "opsrun-${self.apps[0].name}"
      state   = "started"
      enabled = true
      only_if = length(self.apps) > 0
    }
  }

  on "undeploy" {
    service "app" {
      name    = "opsrun-${self.apps[0].name}"
      state   = "stopped"
      enabled = false
      only_if = length(self.apps) > 0
    }

    file "unit" {
      path    = "/etc/systemd/system/opsrun-${self.apps[0].name}.service"
      state   = "absent"
      notify  = [command.daemon_reload]
      only_if = length(self.apps) > 0
    }

    file "release" {
      path    = "/run/opsrun-${self.apps[0].name}.release"
      state   = "absent"
      only_if = length(self.apps) > 0
    }

    command "daemon_reload" {
      command = "systemctl daemon-reload"
      run     = "on_notify"
    }
  }

  on "shutdown" {
    # SIGTERM: an app that handles it (http.Server.Shutdown) finishes
    # the requests in flight.
    service "app" {
      name    = "opsrun-${self.apps[0].name}"
      state   = "stopped"
      only_if = length(self.apps) > 0
    }
  }
}
