summary = "An app's static files, served by nginx from its current release"

description = <<-EOT
  Serves the static files of the first app deployed on the layer (an app
  block whose layers name it) with nginx, from dir inside the app's
  current release: a deploy switches the current link and the next
  request is served from the new release, with no reload. Several apps
  need several layers. The site answers GET /opsrun-health with 200, for
  load balancers' health checks. A configuration nginx refuses fails the
  run before the reload.
EOT

settings = {
  port = "Port the site listens on."
  dir  = "Directory served, relative to the app's release; \"\" serves the release itself."
}

events = {
  setup     = "Installs nginx, removes the distribution's default site, starts and enables nginx."
  configure = "Writes /etc/nginx/conf.d/opsrun-LAYER.conf serving the first app's current/dir; when it changed, checks it with nginx -t and reloads nginx (no connection dropped). Nothing when no app is on the layer."
  deploy    = "Writes the site as configure does (for an app added since), which changes nothing once it is there; the release switch alone makes nginx serve the new files."
  undeploy  = "Nothing: with the release gone, the site answers 404 until the next deploy."
  shutdown  = "Stops nginx, which lets requests in flight finish."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. Another file in /etc/nginx/conf.d (a redirect, a map) can
  notify command.check, which checks the configuration and reloads nginx.
EOT
