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

    include "app_user" {}
  }

  on "configure" {
    include "unit" {}
    include "app_apply_unit" {}
  }

  on "deploy" {
    include "unit" {}

    # A JVM cannot load a new jar in place, so the unit has no
    # ExecReload=: the process is restarted in the new release.
    include "app_deploy" {}
  }

  on "undeploy" {
    include "app_remove" {}
  }

  on "shutdown" {
    # SIGTERM: the JVM runs its shutdown hooks (an HTTP server closing
    # its connections, say) before it exits.
    include "app_stop" {}
  }
}
