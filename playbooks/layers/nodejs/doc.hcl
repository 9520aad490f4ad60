summary = "Node.js app server: the app's main script run by systemd, restarted on deploy"

description = <<-EOT
  Installs Node.js from the distribution and runs the first app deployed
  on the layer (several apps need several layers) as the systemd service
  opsrun-APP: /usr/bin/node MAIN in APP_ROOT/current, as user, with PORT
  set to port and NODE_ENV to production, and the release's .env read on
  top (systemd reads it last, so a PORT in the app's environment wins).
  Systemd restarts it when it fails. The app must listen on PORT; load
  balancers (haproxy's backends) check health_path there.
EOT

settings = {
  port        = "Port the app listens on, given to it as the PORT environment variable."
  user        = "User the app runs as when its app block sets no user; created (a system account) at setup when missing."
  main        = "Script node runs, relative to the release directory."
  health_path = "Path load balancers GET on port to check an instance (200 when healthy)."
}

events = {
  setup     = "Installs nodejs and creates user when missing."
  configure = "Writes /etc/systemd/system/opsrun-APP.service from the settings; when it changed, reloads systemd and restarts the app if it runs."
  deploy    = "Writes the unit, restarts the app in the new release (Node has no graceful reload) and enables it. Nothing is restarted when the app already runs the current release."
  undeploy  = "Stops and disables the app and removes its unit."
  shutdown  = "Stops the app (SIGTERM, so it may finish what it is doing)."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. A drop-in file in /etc/systemd/system/opsrun-APP.service.d/
  (LimitNOFILE, more Environment= lines) takes effect at the next deploy
  or configure, which reload systemd and restart the app when a unit
  file or drop-in changed. Give the app its other variables through its
  app block's environment, which the unit reads from the release's .env.
EOT
