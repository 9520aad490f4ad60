recipe "base" {
  command "reload" {
    command    = "systemctl reload nginx"
    depends_on = [package.ngnix] # ERROR: Reference to undeclared resource
  }
}

layer "web" {
  on "setup" {
    package "nginx" {
      name = "nginx"
    }
    include "base" {}
    file "index" {
      path   = "/var/www/index.html"
      notify = [service.nginx] # ERROR: Reference to undeclared resource
    }
  }
  on "configure" {
    service "nginx" {
      name = "nginx"
    }
  }
}
