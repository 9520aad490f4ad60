# hello: the smallest useful stack. One web layer; each instance installs
# nginx and serves a page rendered from its own facts and the stack's
# topology. Run it on a local fleet with `make demo`, or by hand:
#
#   opsrun testenv up --name hello --layers web:2
#   opsrun plan setup examples/hello -i .opsrun/testenv/hello/inventory.hcl
#   opsrun run  setup examples/hello -i .opsrun/testenv/hello/inventory.hcl

stack "hello" {
  os    = "debian"
  forks = 20
}

variable "greeting" {
  type        = string
  default     = "Hello from opsrun"
  description = "First line of the page."

  validation {
    condition     = length(var.greeting) > 0 && length(var.greeting) < 200
    error_message = "greeting must be 1 to 199 characters."
  }
}

locals {
  docroot = "/var/www/hello"
}

recipe "base" {
  package "tools" {
    name = ["curl", "ca-certificates"]
  }
}

layer "web" {
  settings = {
    port = 80
  }

  on "setup" {
    include "base" {}

    package "nginx" {
      name = "nginx"
    }

    directory "docroot" {
      path = local.docroot
      mode = "0755"
    }

    file "site" {
      path    = "/etc/nginx/sites-available/default"
      content = <<-EOT
        server {
          listen ${layer.web.settings.port} default_server;
          root ${local.docroot};
          index index.html;
        }
      EOT
      notify  = [service.nginx]
    }

    service "nginx" {
      name    = "nginx"
      state   = "started"
      enabled = true
    }
  }

  on "configure" {
    file "index" {
      path    = "${local.docroot}/index.html"
      content = templatefile("index.html.tmpl", {
        greeting = var.greeting
        host     = host
        peers    = [for i in layer.web.instances : i.name]
      })
    }
  }
}
