summary = "PHP app server: nginx and a php-fpm of the app's own, reloaded gracefully on deploy"

description = <<-EOT
  Installs php-fpm and nginx from the distribution and serves the first
  app deployed on the layer (several apps need several layers): nginx
  listens on port with APP_ROOT/current/DIR as its document root, serves
  static files from it, sends *.php (and any path with no file, as
  index.php, for front controllers) to the app's php-fpm, the systemd
  service opsrun-APP, whose workers run as user with PORT set and the
  release's .env in their environment (getenv, $_SERVER). Its
  configuration is /etc/opsrun/php-fpm-APP.conf and its socket
  /run/opsrun-APP/php-fpm.sock, whatever the PHP version. A deploy
  reloads php-fpm gracefully (the workers finish their requests, opcache
  starts empty); a release whose .env differs from the running one's, or
  a changed unit, gets a full restart, since a reload keeps the
  environment php-fpm started with. Load balancers (haproxy's backends)
  check health_path on port.
EOT

settings = {
  port        = "Port nginx listens on for the app; also given to the app as PORT."
  user        = "User php-fpm's workers run as when the app block sets no user; created (a system account) at setup when missing."
  dir         = "The document root, relative to the release directory: only files under it can be requested."
  health_path = "Path load balancers GET on port to check an instance (200 when healthy)."
}

events = {
  setup     = "Installs php-fpm and nginx, removes the distribution's default site, starts and enables nginx, creates user when missing."
  configure = "Writes the php-fpm unit and configuration and /etc/nginx/conf.d/opsrun-LAYER.conf from the settings; when the site changed, checks it with nginx -t and reloads nginx; when php-fpm's files changed and it runs, reloads it (restarts it for a changed unit)."
  deploy    = "Writes the same files, reloads php-fpm into the new release (a full restart when .env or the unit changed, a start the first time) and enables it. Nothing happens when php-fpm already runs the current release."
  undeploy  = "Stops and disables the app's php-fpm, removes its unit, its configuration and the nginx site, and reloads nginx."
  shutdown  = "Stops nginx, which finishes the requests in flight, and php-fpm, whose workers finish theirs."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. PHP extensions come from the distribution (a package
  resource in the stack layer's setup, php-mysql say); a deploy or a
  restart loads them. php.ini settings go in the release (a .user.ini
  in the document root) or in /etc/php/VERSION/fpm/conf.d. Another file
  in /etc/nginx/conf.d (an extra server, a map) can notify
  command.nginx_check, which checks the configuration and reloads nginx.
EOT
