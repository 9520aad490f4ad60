summary = "Python WSGI app server: gunicorn run by systemd, reloaded gracefully on deploy"

description = <<-EOT
  Installs gunicorn (with Python 3) from the distribution and serves the
  first app deployed on the layer (several apps need several layers) as
  the systemd service opsrun-APP: gunicorn binds 0.0.0.0:port with
  workers worker processes and imports module from APP_ROOT/current, as
  user, with PORT set and the release's .env read into the environment.
  Systemd restarts it when it fails. A deploy reloads it gracefully
  (HUP: new workers import the new release while the old ones finish
  their requests, and the listening socket never closes); a release
  whose .env differs from the running one's, or a changed unit, gets a
  full restart, since a reload keeps the environment the server started
  with. Load balancers (haproxy's backends) check health_path on port.
EOT

settings = {
  port        = "Port gunicorn binds on every address; also given to the app as PORT."
  user        = "User the app runs as when its app block sets no user; created (a system account) at setup when missing."
  module      = "The WSGI callable, MODULE:NAME, imported from the release directory (app:app is app.py's app)."
  workers     = "Number of gunicorn worker processes."
  health_path = "Path load balancers GET on port to check an instance (200 when healthy)."
}

events = {
  setup     = "Installs gunicorn and creates user when missing."
  configure = "Writes /etc/systemd/system/opsrun-APP.service from the settings; when it changed, reloads systemd and restarts the app if it runs."
  deploy    = "Writes the unit, reloads gunicorn gracefully into the new release (a full restart when .env or the unit changed, a start the first time) and enables it. Nothing happens when the app already runs the current release."
  undeploy  = "Stops and disables the app and removes its unit."
  shutdown  = "Stops gunicorn, which lets requests in flight finish."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. Python libraries come from the distribution (a package
  resource in the stack layer's setup, python3-flask say) or from the
  release itself (a build that installs into the release directory).
  A drop-in file in /etc/systemd/system/opsrun-APP.service.d/ takes
  effect at the next deploy or configure, which reload systemd and
  restart the app when a unit file or drop-in changed.
EOT
