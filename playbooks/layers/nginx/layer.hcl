# nginx: a static web server, or a reverse proxy in front of an app server
# on the same host. Settings are read as self.settings: the stack may call
# the layer anything.

layer "nginx" {
  settings = {
    port                 = 80
    server_name          = "_"
    root                 = "/var/www/html"
    app                  = ""
    proxy_port           = 0
    client_max_body_size = "10m"
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

    directory "root" {
      path = self.settings.root
      mode = "0755"
    }

    service "nginx" {
      name    = "nginx"
      state   = "started"
      enabled = true
    }
  }

  on "configure" {
    file "site" {
      path    = "/etc/nginx/conf.d/opsrun-${self.name}.conf"
      content = <<-EOT
        # Written by opsrun (built-in layer nginx, stack layer ${self.name}).
        server {
          listen ${self.settings.port};
          server_name ${self.settings.server_name};
          client_max_body_size ${self.settings.client_max_body_size};
        %{ if self.settings.proxy_port > 0 ~}
          location / {
            proxy_pass http://127.0.0.1:${self.settings.proxy_port};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
          }
        %{ else ~}
          root ${self.settings.app != "" ? "${app[self.settings.app].current}/public" : self.settings.root};
          index index.html;
          location / {
            try_files $uri $uri/ =404;
          }
        %{ endif ~}
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

  on "shutdown" {
    # Finish the requests in flight, accept no more.
    service "nginx" {
      name  = "nginx"
      state = "stopped"
    }
  }
}
