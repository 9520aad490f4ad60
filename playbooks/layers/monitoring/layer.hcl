# monitoring: Prometheus' node exporter, the host's metrics over HTTP.
# Settings are read as self.settings: the stack may call the layer
# anything.

layer "monitoring" {
  settings = {
    port   = 9100
    listen = "0.0.0.0"
    flags  = []
  }

  on "setup" {
    package "node_exporter" {
      name = "prometheus-node-exporter"
    }

    service "node_exporter" {
      name    = "prometheus-node-exporter"
      state   = "started"
      enabled = true
    }
  }

  on "configure" {
    # Debian's unit reads its command line from ARGS in this file.
    file "args" {
      path    = "/etc/default/prometheus-node-exporter"
      content = <<-EOT
        # Written by opsrun (built-in layer monitoring, stack layer ${self.name}).
        ARGS="${join(" ", concat(["--web.listen-address=${can(regex(":", self.settings.listen)) ? "[${self.settings.listen}]" : self.settings.listen}:${self.settings.port}"], self.settings.flags))}"
      EOT
      notify  = [service.node_exporter]
    }

    service "node_exporter" {
      name  = "prometheus-node-exporter"
      state = "started"
    }
  }

  on "shutdown" {
    service "node_exporter" {
      name  = "prometheus-node-exporter"
      state = "stopped"
    }
  }
}
