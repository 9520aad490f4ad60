summary = "Prometheus node exporter: the host's metrics for a Prometheus server to scrape"

description = <<-EOT
  Installs Prometheus' node exporter from the distribution
  (prometheus-node-exporter) and serves the host's metrics (CPU, memory,
  disks, network, load: node_load1...) at http://HOST:port/metrics, for a
  Prometheus server to scrape. The endpoint has no authentication: keep
  it to a private network, or set listen to the host's private address.
EOT

settings = {
  port   = "Port the metrics are served on."
  listen = "Address the exporter listens on: \"0.0.0.0\" for every IPv4 address, an IP of the host (an IPv6 one too) to keep it to one network."
  flags  = "More command-line flags, as a list of strings: collectors to enable or disable (\"--collector.systemd\", \"--no-collector.hwmon\"), the textfile collector's directory..."
}

events = {
  setup     = "Installs prometheus-node-exporter, starts and enables it."
  configure = "Writes the exporter's command line (--web.listen-address and flags) to /etc/default/prometheus-node-exporter; when it changed, restarts the exporter."
  deploy    = "Nothing."
  undeploy  = "Nothing."
  shutdown  = "Stops the exporter."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. Collectors are chosen with flags; a file the textfile
  collector reads (--collector.textfile.directory in flags) can be
  written by the stack's own recipes, which the exporter picks up on its
  next scrape without a restart.
EOT
