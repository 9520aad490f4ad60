# php: a PHP app served by nginx and a php-fpm of its own, both on the
# instance, from the release that current points to. Settings are read
# as self.settings: the stack may call the layer anything. One layer
# serves one app, the first on it (self.apps[0]): there is no for_each to
# write a unit per app.
#
# The app's php-fpm is the systemd service opsrun-APP, with its own
# configuration file (/etc/opsrun/php-fpm-APP.conf) and socket
# (/run/opsrun-APP/php-fpm.sock): no path depends on the PHP version the
# distribution ships (/etc/php/8.2/fpm/pool.d on Debian 12), and the
# workers get the app's environment the way every app server here does,
# from the unit (PORT, the release's .env) through clear_env = no. The
# distribution's own php-fpm service is left as the package installed it.
#
# nginx resolves current for each request ($realpath_root), so php-fpm
# sees, and opcache caches, the release's own paths: a switch serves the
# new release at once, and the deploy's reload clears what the old one
# left in opcache.

# The unit, the php-fpm configuration and the nginx site are written by
# configure (settings changed) and by deploy (an app added since), the
# same bytes from both.
recipe "app" {
  directory "conf" {
    path    = "/etc/opsrun"
    mode    = "0755"
    only_if = length(self.apps) > 0
  }

  file "unit" {
    path    = "/etc/systemd/system/opsrun-${self.apps[0].name}.service"
    content = <<-EOT
      # Written by opsrun (built-in layer php, stack layer ${self.name}).
      [Unit]
      Description=${self.apps[0].name}: php-fpm for a PHP app (opsrun layer ${self.name})
      After=network.target

      [Service]
      Type=notify
      Environment=PORT=${self.settings.port}
      EnvironmentFile=-${self.apps[0].current}/.env
      RuntimeDirectory=opsrun-${self.apps[0].name}
      # php-fpm is named after its version on Debian (php-fpm8.2), not on
      # RHEL (php-fpm): the last one installed is run.
      ExecStart=/bin/sh -c 'for f in /usr/sbin/php-fpm*; do :; done; exec "$$f" --nodaemonize --fpm-config /etc/opsrun/php-fpm-${self.apps[0].name}.conf'
      ExecReload=/bin/kill -USR2 $MAINPID
      # SIGQUIT: the workers finish their requests before they exit.
      KillSignal=SIGQUIT
      Restart=on-failure

      [Install]
      WantedBy=multi-user.target
    EOT
    notify  = [command.apply]
    only_if = length(self.apps) > 0
  }

  # The master runs as root, like the distribution's, so that it can
  # give the socket to nginx's user; the workers, which run the app's
  # code, run as user.
  file "fpm" {
    path    = "/etc/opsrun/php-fpm-${self.apps[0].name}.conf"
    content = <<-EOT
      ; Written by opsrun (built-in layer php, stack layer ${self.name}).
      [global]
      error_log = syslog
      syslog.ident = opsrun-${self.apps[0].name}
      daemonize = no
      ; A reload lets workers finish their requests for this long.
      process_control_timeout = 10s

      [${self.apps[0].name}]
      user = ${self.apps[0].user != "" ? self.apps[0].user : self.settings.user}
      listen = /run/opsrun-${self.apps[0].name}/php-fpm.sock
      listen.owner = ${host.os.family == "rhel" ? "nginx" : "www-data"}
      listen.group = ${host.os.family == "rhel" ? "nginx" : "www-data"}
      listen.mode = 0660
      ; The workers see the unit's environment: PORT and the release's .env.
      clear_env = no
      catch_workers_output = yes
      pm = dynamic
      pm.max_children = 5
      pm.start_servers = 2
      pm.min_spare_servers = 1
      pm.max_spare_servers = 3
    EOT
    notify  = [command.apply]
    only_if = length(self.apps) > 0
  }

  file "site" {
    path    = "/etc/nginx/conf.d/opsrun-${self.name}.conf"
    content = <<-EOT
      # Written by opsrun (built-in layer php, stack layer ${self.name}).
      server {
        listen ${self.settings.port};
        server_name _;
        root ${self.apps[0].current}/${self.settings.dir};
        index index.php index.html;
        location / {
          try_files $uri $uri/ /index.php$is_args$args;
        }
        location ~ \.php$ {
          try_files $uri =404;
          include fastcgi_params;
          fastcgi_param SCRIPT_FILENAME $realpath_root$fastcgi_script_name;
          fastcgi_param DOCUMENT_ROOT $realpath_root;
          fastcgi_pass unix:/run/opsrun-${self.apps[0].name}/php-fpm.sock;
        }
      }
    EOT
    notify  = [command.nginx_check]
    only_if = length(self.apps) > 0
  }

  # A configuration nginx refuses is caught before the reload, which
  # would otherwise keep the old one and say nothing.
  command "nginx_check" {
    command = "nginx -t -q"
    run     = "on_notify"
    notify  = [service.nginx]
  }

  service "nginx" {
    name      = "nginx"
    state     = "started"
    on_notify = "reload"
  }
}

layer "php" {
  settings = {
    port        = 80
    user        = "www-data"
    dir         = "public"
    health_path = "/"
  }

  on "setup" {
    package "php" {
      name = ["php-fpm", "nginx"]
    }

    # Debian's and Ubuntu's default site also listens on port 80.
    link "default_site" {
      path  = "/etc/nginx/sites-enabled/default"
      state = "absent"
    }

    service "nginx" {
      name    = "nginx"
      state   = "started"
      enabled = true
    }

    include "app_user" {}
  }

  on "configure" {
    include "app" {}

    # A changed unit or php-fpm configuration under a running php-fpm
    # takes effect now: a restart for the unit (a reload keeps the
    # environment php-fpm started with), a graceful reload for the
    # configuration. A stopped php-fpm stays stopped until the deploy
    # starts it. It is named apply like the deploy's command, which the
    # same files notify there.
    command "apply" {
      command = <<-EOT
        unit=opsrun-${self.apps[0].name}
        if [ "$(systemctl show --value -p NeedDaemonReload $unit)" = yes ]; then
          systemctl daemon-reload && systemctl try-restart $unit
        else
          systemctl try-reload-or-restart $unit
        fi
      EOT
      run     = "on_notify"
      only_if = length(self.apps) > 0
    }
  }

  on "deploy" {
    include "app" {}

    # php-fpm reloads gracefully (the unit's ExecReload=, USR2: the
    # workers finish their requests, the master re-executes itself,
    # opcache starts empty and the socket stays open). The php-fpm
    # configuration is /etc/opsrun/php-fpm-APP.conf: changed since
    # php-fpm last loaded a release, it is applied too.
    include "app_deploy" {}
  }

  on "undeploy" {
    include "app_remove" {}

    file "fpm" {
      path    = "/etc/opsrun/php-fpm-${self.apps[0].name}.conf"
      state   = "absent"
      only_if = length(self.apps) > 0
    }

    file "site" {
      path    = "/etc/nginx/conf.d/opsrun-${self.name}.conf"
      state   = "absent"
      notify  = [service.nginx]
      only_if = length(self.apps) > 0
    }

    service "nginx" {
      name      = "nginx"
      state     = "started"
      on_notify = "reload"
    }
  }

  on "shutdown" {
    # nginx finishes the requests in flight and accepts no more; php-fpm,
    # sent SIGQUIT, lets its workers finish theirs.
    service "nginx" {
      name  = "nginx"
      state = "stopped"
    }

    include "app_stop" {}
  }
}
