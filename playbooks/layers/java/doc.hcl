summary = "Java app server: a runnable jar run by systemd with the distribution's JRE, restarted on deploy"

description = <<-EOT
  Installs a headless JRE from the distribution (default-jre-headless;
  java-17-openjdk-headless on RHEL) and runs the first app deployed on
  the layer (several apps need several layers) as the systemd service
  opsrun-APP: /usr/bin/java JAVA_OPTS -jar JAR in APP_ROOT/current, as
  user, with PORT set to port and the release's .env read on top
  (systemd reads it last, so a PORT in the app's environment wins).
  Systemd restarts it when it fails. The app must listen on PORT; load
  balancers (haproxy's backends) check health_path there. The layer
  installs no JDK: the jar is built by the app's local_build on the
  operator's machine (javac and jar, or a build tool), or by its build
  on the host when the stack's own setup installs one
  (default-jdk-headless).
EOT

settings = {
  port        = "Port the app listens on, given to it as the PORT environment variable."
  user        = "User the app runs as when its app block sets no user; created (a system account) at setup when missing."
  jar         = "The runnable jar (its manifest names the main class), relative to the release directory."
  java_opts   = "Options given to java before -jar: heap size, system properties (-Dkey=value), GC flags."
  health_path = "Path load balancers GET on port to check an instance (200 when healthy)."
}

events = {
  setup     = "Installs the JRE and creates user when missing."
  configure = "Writes /etc/systemd/system/opsrun-APP.service from the settings; when it changed, reloads systemd and restarts the app if it runs."
  deploy    = "Writes the unit, restarts the JVM in the new release (a JVM has no graceful reload) and enables it. Nothing is restarted when the app already runs the current release."
  undeploy  = "Stops and disables the app and removes its unit."
  shutdown  = "Stops the app (SIGTERM: the JVM runs its shutdown hooks)."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. Another JRE (a package resource in the stack layer's setup,
  openjdk-17-jre-headless say) is used when /usr/bin/java points to it.
  A drop-in file in /etc/systemd/system/opsrun-APP.service.d/
  (LimitNOFILE, more Environment= lines) takes effect at the next deploy
  or configure, which reload systemd and restart the app when a unit
  file or drop-in changed. Give the app other environment through its
  app block's environment, which the unit reads from the release's .env.
EOT
