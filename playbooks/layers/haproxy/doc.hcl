summary = "HTTP load balancer in front of the instances of other layers"

description = <<-EOT
  Installs HAProxy from the distribution and balances HTTP on the layer's
  port over every instance of the layers named in backends, each reached
  at its private IP on backend_port. HAProxy checks each backend with an
  HTTP GET of health_path every 2 s: two failures take a server out, two
  successes bring it back. A connection a backend refuses is retried on
  another server (option redispatch, retries 3), so an instance that
  stops or leaves costs no failed request. When the membership changes,
  configure rewrites the server list; HAProxy checks the new configuration
  before it is installed and reloads without dropping a connection.
  Requests reach the backends with an X-Forwarded-For header.
EOT

settings = {
  backends      = "Names of the stack's layers whose instances are the servers; an instance in several of them is one server."
  port          = "Port the load balancer listens on, on every address."
  backend_port  = "Port the backends' app listens on (the app server layers' port setting)."
  health_path   = "Path of the health check: GET health_path must answer 200 for a server to get traffic."
  balance       = "HAProxy's balance algorithm: roundrobin, leastconn, source, uri..."
  stats_port    = "When above 0, HAProxy's statistics page is served on this port, without authentication: keep it to a private network."
  drain_timeout = "Seconds a leaving load balancer waits for its open connections to finish before it stops."
}

events = {
  setup     = "Installs HAProxy and socat (to talk to HAProxy's admin socket), starts and enables HAProxy."
  configure = "Renders /etc/haproxy/haproxy.cfg.opsrun from the settings and the backend layers' instances; when it differs from haproxy.cfg, checks it with haproxy -c, installs it as haproxy.cfg and reloads HAProxy gracefully."
  deploy    = "Nothing: the backends' layers deploy the apps."
  undeploy  = "Nothing."
  shutdown  = "Drains: disables the frontend through the admin socket (/run/haproxy/admin.sock), so new connections are refused while open ones go on, waits until none is left or drain_timeout passes, then stops HAProxy."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. The settings cover one HTTP frontend and one backend; a
  stack that needs more of HAProxy (TLS, ACLs, several backends) writes
  its own haproxy.cfg from a layer of its own rather than this one.
  The admin socket (/run/haproxy/admin.sock, level admin) is there for
  recipes that drive HAProxy at run time, e.g. with socat.
EOT
