layer "lb" {
  depends_on = ["app"]
  settings = {
    listen = 80
  }

  on "setup" {
    include "base" {}
    package "haproxy" {
      name = "haproxy"
    }
  }

  on "configure" {
    file "haproxy_cfg" {
      path = "/etc/haproxy/haproxy.cfg"
      content = templatefile("templates/haproxy.cfg.tpl", {
        listen   = layer.lb.settings.listen
        backends = [for i in layer.app.instances : "${i.address}:${layer.app.settings.port}"]
      })
      notify = [service.haproxy]
    }
    service "haproxy" {
      name    = "haproxy"
      enabled = true
    }
  }

  on "shutdown" {
    command "drain" {
      command = "echo disable server app > /run/haproxy.sock"
    }
  }
}

layer "app" {
  max_fail_percentage = 25
  settings = {
    port    = var.app.port
    workers = var.app.workers
  }

  on "setup" {
    include "base" {}
    package "runtime" {
      name = host.os.family == "rhel" ? "nodejs" : "nodejs-lts"
    }
  }

  on "deploy" {
    include "base" {}
    include "app" {}
    service "app" {
      name    = "${var.app.name}.service"
      enabled = true
      state   = "restarted"
      only_if = host.init == "systemd"
      not_if  = fileexists("/etc/opsrun/maintenance")
    }
  }

  on "undeploy" {
    command "remove" {
      command = "rm -rf ${local.app_dir}"
    }
  }
}

layer "worker" {
  settings = { queue = "default" }
  on "deploy" {
    command "restart" {
      command = "systemctl restart worker@${try(host.vars.queue, layer.worker.settings.queue)}"
    }
  }
}
