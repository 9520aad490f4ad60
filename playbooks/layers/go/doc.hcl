summary = "Compiled app server: a binary built on the operator's machine, run by systemd, restarted on deploy"

description = <<-EOT
  Runs the first app deployed on the layer (several apps need several
  layers) as the systemd service opsrun-APP: APP_ROOT/current/BINARY
  ARGS, in APP_ROOT/current, as user, with PORT set to port and the
  release's .env read on top (systemd reads it last, so a PORT in the
  app's environment wins). Systemd restarts it when it fails. Nothing
  is installed: the binary is built before it is shipped, by the app's
  local_build, which runs in the source directory on the operator's
  machine (CGO_ENABLED=0 go build -o bin/app . makes a static binary
  that runs on any Linux of the same architecture). The app must listen
  on PORT; load balancers (haproxy's backends) check health_path there.
EOT

settings = {
  port        = "Port the app listens on, given to it as the PORT environment variable."
  user        = "User the app runs as when its app block sets no user; created (a system account) at setup when missing."
  binary      = "The executable, relative to the release directory (where local_build wrote it)."
  args        = "Arguments given to the binary, as systemd splits them: quotes group words, $NAME is an environment variable ($PORT, say)."
  health_path = "Path load balancers GET on port to check an instance (200 when healthy)."
}

events = {
  setup     = "Creates user when missing."
  configure = "Writes /etc/systemd/system/opsrun-APP.service from the settings; when it changed, reloads systemd and restarts the app if it runs."
  deploy    = "Writes the unit, restarts the app in the new release and enables it. Nothing is restarted when the app already runs the current release."
  undeploy  = "Stops and disables the app and removes its unit."
  shutdown  = "Stops the app (SIGTERM, so one that handles it may finish its requests)."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. A drop-in file in /etc/systemd/system/opsrun-APP.service.d/
  (LimitNOFILE, AmbientCapabilities=CAP_NET_BIND_SERVICE for a port
  below 1024) takes effect at the next deploy or configure, which reload
  systemd and restart the app when a unit file or drop-in changed. Give
  the app other environment through its app block's environment, which
  the unit reads from the release's .env.
EOT
