# ruby: a Rack app served by puma, run by systemd from the release that
# current points to. Settings are read as self.settings: the stack may
# call the layer anything. One layer serves one app, the first on it
# (self.apps[0]): there is no for_each to write a unit per app.
#
# Deploys restart puma in place (USR2, a hot restart): puma finishes the
# requests in flight, changes to its --dir again and re-executes itself,
# keeping its listening socket, so requests wait rather than fail. --dir
# is the current LINK, so the re-executed puma loads the new release
# (checked on Debian 12's puma 5.6). The environment is the one systemd
# gave it at start, from the old release's .env, so a release whose .env
# differs (or a changed unit) gets a full restart instead.

# The unit is written by configure (settings changed) and by deploy
# (current exists only after one), the same bytes from both.
recipe "unit" {
  file "unit" {
    path    = "/etc/systemd/system/opsrun-${self.apps[0].name}.service"
    content = <<-EOT
      # Written by opsrun (built-in layer ruby, stack layer ${self.name}).
      [Unit]
      Description=${self.apps[0].name}: Rack app in puma (opsrun layer ${self.name})
      After=network.target

      [Service]
      WorkingDirectory=${self.apps[0].current}
      Environment=RACK_ENV=production
      Environment=PORT=${self.settings.port}
      EnvironmentFile=-${self.apps[0].current}/.env
      ExecStart=/usr/bin/puma --bind tcp://0.0.0.0:${self.settings.port} --workers ${self.settings.workers} --dir ${self.apps[0].current} ${self.settings.rackup}
      ExecReload=/bin/kill -USR2 $MAINPID
      User=${self.apps[0].user != "" ? self.apps[0].user : self.settings.user}
      Restart=on-failure

      [Install]
      WantedBy=multi-user.target
    EOT
    only_if = length(self.apps) > 0
  }
}

layer "ruby" {
  settings = {
    port        = 8080
    user        = "www-data"
    rackup      = "config.ru"
    workers     = 0
    health_path = "/"
  }

  on "setup" {
    # Debian's puma does not depend on rack (it parses config.ru with a
    # builder of its own); apps expect Rack's library all the same.
    package "puma" {
      name = host.os.family == "rhel" ? ["ruby", "rubygem-puma", "rubygem-rack"] : ["ruby", "puma", "ruby-rack"]
    }

    include "app_user" {}
  }

  on "configure" {
    include "unit" {}
    include "app_apply_unit" {}
  }

  on "deploy" {
    include "unit" {}

    # The unit's ExecReload= (USR2) makes this a hot restart, when the
    # release's .env is the running one's.
    include "app_deploy" {}
  }

  on "undeploy" {
    include "app_remove" {}
  }

  on "shutdown" {
    # SIGTERM: puma stops accepting and finishes the requests in flight.
    include "app_stop" {}
  }
}
