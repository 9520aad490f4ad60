# Recipes every built-in layer may include: what the app servers do alike.
# The app a layer runs is self.apps[0], as the systemd service opsrun-APP
# (/etc/systemd/system/opsrun-APP.service, written by the layer, which
# alone knows how to start its server); the recipes that act on it skip
# themselves on a layer with no app.

# Setup: the account apps run as when their app block names none. root
# needs no creating.
recipe "app_user" {
  user "runner" {
    name        = self.settings.user
    system      = true
    create_home = false
    only_if     = self.settings.user != "root"
  }
}

# A unit changed under a running app (a new port, say) takes effect now; a
# stopped one stays stopped until the deploy starts it.
recipe "app_apply_unit" {
  command "apply_unit" {
    command = "systemctl daemon-reload && systemctl try-restart opsrun-${self.apps[0].name}"
    unless  = "[ \"$(systemctl show --value -p NeedDaemonReload opsrun-${self.apps[0].name})\" != yes ]"
    only_if = length(self.apps) > 0
  }
}

# Deploy: the app runs the current release, and starts at boot.
#
# /run/opsrun-APP.release records the release the app loaded: the one
# whose .env its environment came from, and what tells that running deploy
# again without a new release has nothing to do. A new release is taken
# over by `systemctl reload-or-restart`: the layer decides which, by its
# unit. A server that can load new code in place (gunicorn HUP, puma USR2,
# php-fpm USR2) has an ExecReload= line and is reloaded gracefully; one
# that cannot (node, a JVM, a binary) has none and is restarted. A reload
# keeps the environment the server started with, so a release whose .env
# differs from the running one's, a changed unit, or a stopped app gets a
# full restart (or a start).
#
# A file a layer writes for the app's server to read at start is applied
# the same way when it is /etc/opsrun/SOMETHING-APP.conf and the unit
# names it (php-fpm's --fpm-config /etc/opsrun/php-fpm-APP.conf): one
# newer than the record makes the deploy run even without a new release.
# Such a file notifies command.apply, which in deploy is this one (run
# again, it finds nothing left to do), so a layer names its configure
# handler for those files apply too.
recipe "app_deploy" {
  command "apply" {
    command = <<-EOT
      set -e
      unit=opsrun-${self.apps[0].name}
      new=$(readlink -f ${self.apps[0].current})
      old=$(cat /run/$unit.release 2>/dev/null || true)
      if [ "$(systemctl show --value -p NeedDaemonReload $unit)" = yes ]; then systemctl daemon-reload; old=; fi
      if [ -n "$old" ] && systemctl is-active -q $unit && cmp -s "$old/.env" "$new/.env"; then
        systemctl reload-or-restart $unit
      else
        systemctl restart $unit
      fi
      echo "$new" > /run/$unit.release
    EOT
    unless  = "[ \"$(cat /run/opsrun-${self.apps[0].name}.release 2>/dev/null)\" = \"$(readlink -f ${self.apps[0].current})\" ] && for f in /etc/opsrun/*-${self.apps[0].name}.conf; do grep -qsF \"$f\" /etc/systemd/system/opsrun-${self.apps[0].name}.service || continue; [ /run/opsrun-${self.apps[0].name}.release -nt \"$f\" ] || exit 1; done && systemctl is-active -q opsrun-${self.apps[0].name} && [ \"$(systemctl show --value -p NeedDaemonReload opsrun-${self.apps[0].name})\" != yes ]"
    only_if = length(self.apps) > 0
  }

  service "app" {
    name    = "opsrun-${self.apps[0].name}"
    state   = "started"
    enabled = true
    only_if = length(self.apps) > 0
  }
}

# Shutdown: the app's process stops (SIGTERM, or the unit's KillSignal),
# and the server finishes the requests in flight.
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

  include "daemon_reload" {}
}

# systemd forgets a unit file removed by the event (notify
# command.daemon_reload from the file resource that removes it).
recipe "daemon_reload" {
  command "daemon_reload" {
    command = "systemctl daemon-reload"
    run     = "on_notify"
  }
}
