summary = "Static web server, or reverse proxy to an app on the same host"

description = <<-EOT
  Installs nginx from the distribution and serves one site on the layer's
  port: static files from a directory (root, or an app's current/public
  when app names one deployed on the layer), or, with proxy_port, a
  reverse proxy to an app server listening on 127.0.0.1. Every site
  answers GET /opsrun-health with 200, for load balancers' health checks.
  A configuration nginx refuses fails the run before the reload.
EOT

settings = {
  port                 = "Port the site listens on."
  server_name          = "server_name of the site; \"_\" answers any host name."
  root                 = "Directory of static files served when neither app nor proxy_port is set; created at setup."
  app                  = "Name of an app (an app block on this layer) whose current/public directory is served; a deploy switches it atomically."
  proxy_port           = "When above 0, every request is passed to 127.0.0.1:proxy_port (an app server on the host) with Host and X-Forwarded-* headers."
  client_max_body_size = "Largest request body accepted."
}

events = {
  setup     = "Installs nginx, removes the distribution's default site, creates root, starts and enables nginx."
  configure = "Writes /etc/nginx/conf.d/opsrun-LAYER.conf from the settings; when it changed, checks it with nginx -t and reloads nginx (no connection dropped)."
  deploy    = "Nothing: an app's files are served through its current link, which the deploy switches."
  undeploy  = "Nothing."
  shutdown  = "Stops nginx, which lets requests in flight finish."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. Another file in /etc/nginx/conf.d (an extra server, a map)
  can notify command.check, which checks the configuration and reloads
  nginx.
EOT
