summary = "Redis key-value store for the stack's other instances"

description = <<-EOT
  Installs Redis from the distribution (redis-server on Debian, redis on
  RHEL) and serves it on bind:port, as a cache by default: at most
  maxmemory of data, evicting keys by maxmemory_policy when full. The
  settings are written to /etc/redis/opsrun.conf (mode 0640, group redis),
  included at the end of /etc/redis/redis.conf, so the rest of the
  distribution's configuration (persistence, logging) stays as it is;
  Redis restarts when they change.

  Redis's protected mode is turned off, since it would refuse every
  client but the host itself while no password is set: who may connect is
  decided by bind and the network, so keep the layer on a private network,
  or set password (requirepass), from a sensitive variable (settings = {
  password = var.redis_password }) so it is hidden from plans and logs.
EOT

settings = {
  port             = "Port Redis listens on."
  bind             = "Addresses Redis listens on, separated by spaces; 0.0.0.0 is every IPv4 address."
  maxmemory        = "Most memory the data may take (Redis units: 64mb, 1gb); 0 is no limit."
  maxmemory_policy = "What Redis does at maxmemory: allkeys-lru (a cache: evict the least recently used key), volatile-lru, noeviction (refuse writes, for data that must not be lost)..."
  password         = "When not empty, clients must AUTH with it (requirepass); give it from a sensitive variable."
}

events = {
  setup     = "Installs Redis, starts and enables it."
  configure = "Writes /etc/redis/opsrun.conf from the settings and includes it at the end of /etc/redis/redis.conf; restarts Redis when either changed."
  deploy    = "Nothing."
  undeploy  = "Nothing."
  shutdown  = "Stops Redis, which saves its dataset first when persistence is configured (the distribution's default save points)."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. More Redis directives go in a file of your own, included
  by a line resource on /etc/redis/redis.conf after opsrun.conf's include,
  both notifying service.redis, which restarts Redis at the end of
  configure.
EOT
