# The shop stack of the lifecycle integration tests (lifecycle_integration_test.go):
# an app layer that runs a tiny perl web server as a systemd service, and a db
# layer that only records who its clients are. The test hosts are minimal
# Debian: no curl, wget or python, but perl-base and bash.

stack "shop" {}

variable "db_password" {
  type      = string
  sensitive = true
  default   = "shop-db-s3cret-9f2c"
}

layer "app" {
  on "setup" {
    directory "etc" {
      path = "/etc/shop"
    }
  }

  on "configure" {
    # What a load balancer would route to: every app instance.
    file "backends" {
      path    = "/etc/shop/backends"
      content = join("", [for i in layer.app.instances : "${i.name} ${i.private_ip}\n"])
    }
  }

  on "deploy" {
    # The unit names the current link, so it does not change between
    # releases; the restart below picks up the new one.
    file "unit" {
      path    = "/etc/systemd/system/shop.service"
      content = <<-EOT
        [Unit]
        Description=shop, the opsrun integration test app

        [Service]
        ExecStart=/usr/bin/perl ${app.shop.current}/server.pl 8080
        WorkingDirectory=${app.shop.current}
        EnvironmentFile=${app.shop.current}/.env
        Restart=on-failure

        [Install]
        WantedBy=multi-user.target
      EOT
    }
    service "shop" {
      name    = "shop"
      state   = "started"
      enabled = true
    }
    # Every deploy and rollback restarts the server into the release that
    # is current now (its working directory is resolved at start).
    command "restart" {
      command = "systemctl restart shop"
    }
  }

  on "shutdown" {
    # The host stays up in the test: a marker stands for draining it.
    file "drained" {
      path    = "/var/tmp/shop-drained"
      content = "${host.name}\n"
    }
  }
}

layer "db" {
  on "setup" {
    directory "etc" {
      path = "/etc/shop-db"
    }
    file "ready" {
      path    = "/etc/shop-db/ready"
      content = "ready\n"
    }
  }

  on "configure" {
    # The database's allowed clients: every app instance.
    file "clients" {
      path    = "/etc/shop-db/clients"
      content = join("", [for i in layer.app.instances : "${i.name} ${i.private_ip}\n"])
    }
  }
}
