recipe "base" {
  package "tools" {
    name = ["curl", "less"]
  }
}

layer "db" {
  settings = { password = var.db_password }
  on "setup" {
    include "base" {}
    package "postgres" { name = "postgresql" }
  }
}

layer "web" {
  depends_on          = ["db"]
  max_fail_percentage = 30
  settings            = { port = var.app_port, backends = ["app"] }

  on "setup" {
    include "base" {}
    package "nginx" { name = "nginx" }
    file "index" {
      path       = "/var/www/html/index.html"
      content    = "hello from ${host.hostname} (${host.os.family}), ${local.banner}"
      notify     = [service.nginx]
      depends_on = [package.nginx]
    }
    service "nginx" {
      name    = "nginx"
      enabled = true
      only_if = host.init == "systemd"
    }
  }

  on "configure" {
    file "upstreams" {
      path    = "/etc/nginx/conf.d/upstreams.conf"
      content = join("\n", [for i in layer.db.instances : "server ${i.address}:${layer.web.settings.port};"])
    }
  }
}
