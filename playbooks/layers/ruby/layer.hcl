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

    user "runner" {
      name        = self.settings.user
      system      = true
      create_home = false
      only_if     = self.settings.user != "root"
    }
  }

  on "configure" {
    include "unit" {}

    # A unit changed under a running app (more workers, say) takes
    # effect now; a stopped one stays stopped until the deploy starts it.
    command "apply_unit" {
      command = "systemctl daemon-reload && systemctl try-restart opsrun-${self.apps[0].name}"
      unless  = "[ \"$(systemctl show --value -p NeedDaemonReload opsrun-${self.apps[0].name})\" != yes ]"
      only_if = length(self.apps) > 0
    }
  }

  on "deploy" {
    include "unit" {}

    # /run/opsrun-APP.release records the release the app loaded: the
    # one whose .env its environment came from, and what tells that
    # running deploy again without a new release has nothing to do.
    command "reload" {
      command = <<-EOT
        set -e
        unit=opsrun-${self.apps[0].name}
        new=$(readlink -f ${self.apps[0].current})
        old=$(cat /run/$unit.release 2>/dev/null || true)
        if [ "$(systemctl show --value -p NeedDaemonReload $unit)" = yes ]; then systemctl daemon-reload; old=; fi
        if [ -n "$old" ] && systemctl is-active -q $unit && cmp -s "$old/.env" "$new/.env"; then
          systemctl reload $unit
        else
          systemctl restart $unit
        fi
        echo "$new" > /run/$unit.release
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
    # SIGTERM: puma stops accepting and finishes the requests in flight.
    service "app" {
      name    = "opsrun-${self.apps[0].name}"
      state   = "stopped"
      only_if = length(self.apps) > 0
    }
  }
}
