# haproxy: an HTTP load balancer in front of the instances of other stack
# layers. Settings are read as self.settings: the stack may call the layer
# anything, and backends names the stack's layers, whatever they use.

layer "haproxy" {
  settings = {
    backends      = ["app"]
    port          = 80
    backend_port  = 8080
    health_path   = "/"
    balance       = "roundrobin"
    stats_port    = 0
    drain_timeout = 30
  }

  on "setup" {
    # socat talks to HAProxy's admin socket when the load balancer drains.
    package "haproxy" {
      name = ["haproxy", "socat"]
    }

    service "haproxy" {
      name    = "haproxy"
      state   = "started"
      enabled = true
    }
  }

  on "configure" {
    # A misspelt backend layer fails the run here, saying so, rather than
    # as an invalid index deep in the template below.
    command "backends" {
      command = "echo 'layer ${self.name}: settings.backends names ${join(", ", [for l in self.settings.backends : "\"${l}\"" if !contains(keys(layer), l)])}, not a layer of this stack (its layers: ${join(", ", sort(keys(layer)))}); correct the name in the stack.' >&2; exit 1"
      only_if = length([for l in self.settings.backends : l if !contains(keys(layer), l)]) > 0
    }

    # The configuration is rendered beside the live one and only installed
    # once HAProxy accepts it, so a configuration it refuses never reaches
    # haproxy.cfg, where the next restart would fail on it. The server
    # lines are a join rather than a %{ for } directive, whose lines would
    # keep the heredoc's indentation.
    file "candidate" {
      path    = "/etc/haproxy/haproxy.cfg.opsrun"
      content = <<-EOT
        # Written by opsrun (built-in layer haproxy, stack layer ${self.name}).
        # Checked with haproxy -c, then installed as /etc/haproxy/haproxy.cfg.
        global
          log /dev/log local0
          log /dev/log local1 notice
          chroot /var/lib/haproxy
          stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners
          stats timeout 30s
          user haproxy
          group haproxy
          daemon

        defaults
          log global
          mode http
          option httplog
          option dontlognull
          option forwardfor
          # A connection a backend refuses (it just stopped) is tried again
          # on another server, so a backend leaves without a failed request.
          option redispatch 1
          retries 3
          timeout connect 5s
          timeout client 50s
          timeout server 50s
          timeout http-keep-alive 10s

        frontend lb
          bind :${self.settings.port}
          default_backend backends

        backend backends
          balance ${self.settings.balance}
          option httpchk GET ${self.settings.health_path}
          http-check expect status 200
          default-server check inter 2s fall 2 rise 2
        ${join("\n", [for i in distinct(flatten([for l in self.settings.backends : layer[l].instances if contains(keys(layer), l)])) : "  server ${i.name} ${i.private_ip}:${self.settings.backend_port}"])}
        %{ if self.settings.stats_port > 0 ~}

        listen stats
          bind :${self.settings.stats_port}
          stats enable
          stats uri /
          stats refresh 10s
        %{ endif ~}
      EOT
    }

    command "install" {
      command = <<-EOT
        # Check the rendered configuration, then install it.
        if ! out=$(haproxy -c -f /etc/haproxy/haproxy.cfg.opsrun 2>&1); then
          echo "$out" >&2
          echo "HAProxy refuses the configuration rendered from layer ${self.name}'s settings (above); haproxy.cfg is unchanged." >&2
          exit 1
        fi
        cp /etc/haproxy/haproxy.cfg.opsrun /etc/haproxy/haproxy.cfg.tmp
        mv /etc/haproxy/haproxy.cfg.tmp /etc/haproxy/haproxy.cfg
      EOT
      unless  = "cmp -s /etc/haproxy/haproxy.cfg.opsrun /etc/haproxy/haproxy.cfg"
      notify  = [service.haproxy]
    }

    # Debian's unit reloads in master-worker mode: new workers take the
    # listening sockets over, old ones finish their connections, and no
    # connection is refused meanwhile.
    service "haproxy" {
      name      = "haproxy"
      state     = "started"
      on_notify = "reload"
    }
  }

  on "shutdown" {
    # The load balancer leaves: it stops accepting connections at once (a
    # client's retry goes to another load balancer), lets the sessions in
    # flight finish for up to drain_timeout seconds, then stops.
    command "drain" {
      command = <<-EOT
        # Refuse new connections; let open ones finish, ${self.settings.drain_timeout} s at most.
        cli() { echo "$1" | socat -t 5 stdio unix-connect:/run/haproxy/admin.sock; }
        cli "disable frontend lb" >/dev/null || exit 1
        deadline=$(( $(date +%s) + ${self.settings.drain_timeout} ))
        while :; do
          n=$(cli "show stat" | awk -F, '$1 == "lb" && $2 == "FRONTEND" { print $5 }')
          [ "$${n:-0}" -eq 0 ] && exit 0
          if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "$n sessions still open after ${self.settings.drain_timeout}s of draining; stopping anyway"
            exit 0
          fi
          sleep 1
        done
      EOT
      unless  = "! systemctl is-active -q haproxy"
      timeout = self.settings.drain_timeout + 30
    }

    service "haproxy" {
      name  = "haproxy"
      state = "stopped"
    }
  }
}
