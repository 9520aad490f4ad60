# static: the static files of an app's release, served by nginx. Settings
# are read as self.settings: the stack may call the layer anything.

layer "static" {
  settings = {
    port = 80
    dir  = "public"
  }

  on "setup" {
    package "nginx" {
      name = "nginx"
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
  }

  on "configure" {
    include "site" {}
  }

  # The site is written on deploy too: an app added to the stack after the
  # instance's last configure is served from its first deploy.
  on "deploy" {
    include "site" {}
  }

  on "shutdown" {
    # Finish the requests in flight, accept no more.
    service "nginx" {
      name  = "nginx"
      state = "stopped"
    }
  }
}

# The nginx site serving the layer's first app. nginx resolves the current
# link on every request (it caches no file by default), so a deploy's
# switch is all it takes to serve the new release.
recipe "site" {
  file "site" {
    path    = "/etc/nginx/conf.d/opsrun-${self.name}.conf"
    only_if = length(self.apps) > 0
    content = <<-EOT
      # Written by opsrun (built-in layer static, stack layer ${self.name}, app ${self.apps[0].name}).
      server {
        listen ${self.settings.port};
        server_name _;
        root ${self.settings.dir == "" ? self.apps[0].current : "${self.apps[0].current}/${self.settings.dir}"};
        index index.html;
        location / {
          try_files $uri $uri/ =404;
        }
        location = /opsrun-health {
          access_log off;
          return 200 "ok\n";
        }
      }
    EOT
    notify  = [command.check]
  }

  # A configuration nginx refuses is caught before the reload, which
  # would otherwise keep the old one and say nothing.
  command "check" {
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
