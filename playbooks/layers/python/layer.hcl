# python: a WSGI app served by gunicorn, run by systemd from the release
# that current points to. Settings are read as self.settings: the stack
# may call the layer anything. One layer serves one app, the first on it
# (self.apps[0]): there is no for_each to write a unit per app.
#
# Deploys reload gracefully: gunicorn's master, sent HUP, starts new
# workers and lets the old ones finish their requests. The master runs
# with --chdir set to the current LINK, not to where it pointed at start:
# on HUP gunicorn changes to that directory again and puts it first on
# sys.path, so the new workers import the new release (checked on
# Debian 12's gunicorn 20.1). HUP keeps the master's environment, which
# systemd read from the old release's .env, so a release whose .env
# differs (or a changed unit) gets a full restart instead.

# The unit is written by configure (settings changed) and by deploy
# (current exists only after one), the same bytes from both.
recipe "unit" {
  file "unit" {
    path    = "/etc/systemd/system/opsrun-${self.apps[0].name}.service"
    content = <<-EOT
      # Written by opsrun (built-in layer python, stack layer ${self.name}).
      [Unit]
      Description=${self.apps[0].name}: WSGI app in gunicorn (opsrun layer ${self.name})
      After=network.target

      [Service]
      WorkingDirectory=${self.apps[0].current}
      Environment=PORT=${self.settings.port}
      EnvironmentFile=-${self.apps[0].current}/.env
      ExecStart=/usr/bin/gunicorn --bind 0.0.0.0:${self.settings.port} --workers ${self.settings.workers} --chdir ${self.apps[0].current} ${self.settings.module}
      ExecReload=/bin/kill -HUP $MAINPID
      User=${self.apps[0].user != "" ? self.apps[0].user : self.settings.user}
      Restart=on-failure

      [Install]
      WantedBy=multi-user.target
    EOT
    only_if = length(self.apps) > 0
  }
}

layer "python" {
  settings = {
    port        = 8080
    user        = "www-data"
    module      = "app:app"
    workers     = 2
    health_path = "/"
  }

  on "setup" {
    package "gunicorn" {
      name = host.os.family == "rhel" ? "python3-gunicorn" : "gunicorn"
    }

    include "app_user" {}
  }

  on "configure" {
    include "unit" {}
    include "app_apply_unit" {}
  }

  on "deploy" {
    include "unit" {}

    # The unit's ExecReload= (HUP) makes this a graceful reload, when the
    # release's .env is the running one's.
    include "app_deploy" {}
  }

  on "undeploy" {
    include "app_remove" {}
  }

  on "shutdown" {
    # SIGTERM: gunicorn stops accepting and lets its workers finish the
    # requests in flight.
    include "app_stop" {}
  }
}
