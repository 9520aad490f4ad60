# nodejs: a Node.js app run by systemd from the release that current
# points to. Settings are read as self.settings: the stack may call the
# layer anything. One layer serves one app, the first on it
# (self.apps[0]): there is no for_each to write a unit per app.

# The unit is written by configure (settings changed) and by deploy
# (current exists only after one), the same bytes from both.
recipe "unit" {
  file "unit" {
    path    = "/etc/systemd/system/opsrun-${self.apps[0].name}.service"
    content = <<-EOT
      # Written by opsrun (built-in layer nodejs, stack layer ${self.name}).
      [Unit]
      Description=${self.apps[0].name}: Node.js app (opsrun layer ${self.name})
      After=network.target

      [Service]
      WorkingDirectory=${self.apps[0].current}
      Environment=NODE_ENV=production
      Environment=PORT=${self.settings.port}
      EnvironmentFile=-${self.apps[0].current}/.env
      ExecStart=/usr/bin/node ${self.settings.main}
      User=${self.apps[0].user != "" ? self.apps[0].user : self.settings.user}
      Restart=on-failure

      [Install]
      WantedBy=multi-user.target
    EOT
    only_if = length(self.apps) > 0
  }
}

layer "nodejs" {
  settings = {
    port        = 8080
    user        = "www-data"
    main        = "server.js"
    health_path = "/"
  }

  on "setup" {
    package "nodejs" {
      name = "nodejs"
    }

    include "app_user" {}
  }

  on "configure" {
    include "unit" {}
    include "app_apply_unit" {}
  }

  on "deploy" {
    include "unit" {}

    # Node has no graceful reload, so the unit has no ExecReload=: the
    # process is restarted in the new release.
    include "app_deploy" {}
  }

  on "undeploy" {
    include "app_remove" {}
  }

  on "shutdown" {
    # SIGTERM: the app may finish what it is doing.
    include "app_stop" {}
  }
}
