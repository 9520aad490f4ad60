# java: a runnable jar run by systemd with the distribution's JRE, from
# the release that current points to. Settings are read as
# self.settings: the stack may call the layer anything. One layer serves
# one app, the first on it (self.apps[0]): there is no for_each to write
# a unit per app.

# The unit is written by configure (settings changed) and by deploy
# (current exists only after one), the same bytes from both.
recipe "unit" {
  file "unit" {
    path    = "/etc/systemd/system/opsrun-${self.apps[0].name}.service"
    content = <<-EOT
      # Written by opsrun (built-in layer java, stack layer ${self.name}).
      [Unit]
      Description=${self.apps[0].name}: Java app (opsrun layer ${self.name})
      After=network.target

      [Service]
      WorkingDirectory=${self.apps[0].current}
      Environment=PORT=${self.settings.port}
      EnvironmentFile=-${self.apps[0].current}/.env
      ExecStart=/usr/bin/java ${self.settings.java_opts} -jar ${self.settings.jar}
      User=${self.apps[0].user != "" ? self.apps[0].user : self.settings.user}
      Restart=on-failure
      # The JVM exits with 128+SIGTERM when systemd stops it: a clean stop.
      SuccessExitStatus=143

      [Install]
      WantedBy=multi-user.target
    EOT
    only_if = length(self.apps) > 0
  }
}

layer "java" {
  settings = {
    port        = 8080
    user        = "www-data"
    jar         = "app.jar"
    java_opts   = "-Xmx256m"
    health_path = "/"
  }

  on "setup" {
    package "jre" {
      name = host.os.family == "rhel" ? "java-17-openjdk-headless" : "default-jre-headless"
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

    # A unit changed under a running app (new java_opts, say) takes
    # effect now; a stopped one stays stopped until the deploy starts it.
    command "apply_unit" {
      command = "systemctl daemon-reload && systemctl try-restart opsrun-${self.apps[0].name}"
      unless  = "[ \"$(systemctl show --value -p NeedDaemonReload opsrun-${self.apps[0].name})\" != yes ]"
      only_if = length(self.apps) > 0
    }
  }

  on "deploy" {
    include "unit" {}

    # A JVM cannot load a new jar in place: the process is restarted in
    # the new release. /run/opsrun-APP.release records the release it
    # loaded, so running deploy again without a new release restarts
    # nothing.
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
    # SIGTERM: the JVM runs its shutdown hooks (an HTTP server closing
    # its connections, say) before it exits.
    service "app" {
      name    = "opsrun-${self.apps[0].name}"
      state   = "stopped"
      only_if = length(self.apps) > 0
    }
  }
}
