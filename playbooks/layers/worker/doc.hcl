summary = "Background workers: an app's command run as N supervised processes, no port"

description = <<-EOT
  Runs the first app deployed on the layer (several apps need several
  layers) as processes supervised by systemd: instances 1 to processes of
  the template unit opsrun-APP-worker@.service, each running command with
  /bin/sh -c in APP_ROOT/current, as user, with WORKER set to its number
  (1, 2, ...) and the release's .env in its environment. Systemd restarts
  a worker that fails. Stopping one sends SIGTERM and gives it
  stop_timeout seconds to finish its job before it is killed, so a queue
  consumer should finish (or give back) the job in hand on SIGTERM. A
  deploy restarts the workers one at a time, so the others keep working.
  command must be set by the stack: the layer fails configure and deploy
  without one.
EOT

settings = {
  processes    = "Number of worker processes; lowering it stops and disables the extra ones at the next configure."
  command      = "Shell command a worker runs in the release directory, like \"./worker.sh\" or \"exec python3 -m app.consume\"; required. It should run until stopped: systemd starts it again when it fails (exits non-zero or is killed), not when it exits 0."
  user         = "User the workers run as when the app block sets no user; created (a system account) at setup when missing."
  stop_timeout = "Seconds a worker is given to exit after SIGTERM before it is killed (TimeoutStopSec)."
}

events = {
  setup     = "Creates user when missing."
  configure = "Fails when command is empty. Writes the template unit from the settings (a change restarts running workers one at a time), starts and enables workers 1 to processes once a release is deployed, stops and disables any above processes."
  deploy    = "Writes the template unit, then restarts the workers one at a time in the new release (SIGTERM, up to stop_timeout, start) and enables them. Nothing is restarted when they already run the current release."
  undeploy  = "Stops and disables every worker and removes the template unit."
  shutdown  = "Stops every worker (SIGTERM, up to stop_timeout each)."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. Give the workers their queue's address and credentials
  through the app block's environment, which they read from the
  release's .env; WORKER tells a worker from the others (to pick a
  partition, say). Units are named after the app, so two kinds of worker
  on the same hosts need two layers, each with an app of its own (the
  same source may serve both).
EOT
