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
    include "app_user" {}
  }

  on "configure" {
    include "unit" {}
    include "app_apply_unit" {}
  }

  on "deploy" {
    include "unit" {}

    # A new binary needs a new process, so the unit has no ExecReload=:
    # the app is restarted in the new release.
    include "app_deploy" {}
  }

  on "undeploy" {
    include "app_remove" {}
  }

  on "shutdown" {
    # SIGTERM: an app that handles it (http.Server.Shutdown) finishes
    # the requests in flight.
    include "app_stop" {}
  }
}
