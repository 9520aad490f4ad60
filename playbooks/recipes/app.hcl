# Recipes every built-in layer may include: what the app servers do alike.
# They read self.apps[0] (the app a layer runs) and skip themselves on a
# layer with no app.

# A unit changed under a running app takes effect now; a stopped one stays
# stopped until the deploy starts it.
recipe "app_apply_unit" {
  command "apply_unit" {
    command = "systemctl daemon-reload && systemctl try-restart opsrun-${self.apps[0].name}"
    unless  = "[ \"$(systemctl show --value -p NeedDaemonReload opsrun-${self.apps[0].name})\" != yes ]"
    only_if = length(self.apps) > 0
  }
}

# The app's process stops: SIGTERM, and the server finishes the requests in
# flight.
recipe "app_stop" {
  service "app" {
    name    = "opsrun-${self.apps[0].name}"
    state   = "stopped"
    only_if = length(self.apps) > 0
  }
}

# Undeploy: the service stopped and disabled, its unit and release marker
# gone.
recipe "app_remove" {
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
