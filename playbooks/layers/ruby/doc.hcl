summary = "Ruby Rack app server: puma run by systemd, restarted in place on deploy"

description = <<-EOT
  Installs Ruby, puma and Rack from the distribution and serves the first
  app deployed on the layer (several apps need several layers) as the
  systemd service opsrun-APP: puma binds 0.0.0.0:port and runs rackup
  from APP_ROOT/current, as user, with RACK_ENV=production and PORT set
  and the release's .env read on top (so the app's environment may set
  RACK_ENV). With workers above 0 puma runs in cluster mode. Systemd
  restarts it when it fails. A deploy restarts puma in place (USR2: it
  finishes the requests in flight and re-executes itself in the new
  release, keeping its listening socket, so no connection is refused);
  a release whose .env differs from the running one's, or a changed
  unit, gets a full restart, since puma keeps the environment it started
  with. Load balancers (haproxy's backends) check health_path on port.
EOT

settings = {
  port        = "Port puma binds on every address; also given to the app as PORT."
  user        = "User the app runs as when its app block sets no user; created (a system account) at setup when missing."
  rackup      = "The Rack configuration file, relative to the release directory."
  workers     = "puma worker processes: 0 runs one process (single mode), more runs a master and that many workers (cluster mode)."
  health_path = "Path load balancers GET on port to check an instance (200 when healthy)."
}

events = {
  setup     = "Installs ruby, puma and rack, and creates user when missing."
  configure = "Writes /etc/systemd/system/opsrun-APP.service from the settings; when it changed, reloads systemd and restarts the app if it runs."
  deploy    = "Writes the unit, restarts puma in place into the new release (a full restart when .env or the unit changed, a start the first time) and enables it. Nothing happens when the app already runs the current release."
  undeploy  = "Stops and disables the app and removes its unit."
  shutdown  = "Stops puma, which finishes the requests in flight."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. Gems come from the distribution (a package resource in the
  stack layer's setup, ruby-sinatra say) or are vendored in the release.
  A config/puma.rb in the release is read too (threads, say); options
  on puma's command line (bind, workers) win over it. A drop-in file in
  /etc/systemd/system/opsrun-APP.service.d/ takes effect at the next
  deploy or configure, which reload systemd and restart the app when a
  unit file or drop-in changed.
EOT
