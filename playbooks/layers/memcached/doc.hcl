summary = "Memory cache for the stack's other instances"

description = <<-EOT
  Installs memcached from the distribution and serves it on listen:port
  with memory_mb of memory for items. The settings are the -l, -p and -m
  lines of /etc/memcached.conf (PORT, CACHESIZE and OPTIONS in
  /etc/sysconfig/memcached on RHEL); every other line is left as it is.
  memcached restarts when one changes, which empties the cache.

  memcached has no authentication here: whoever reaches listen:port may
  read and write the cache, so keep the layer on a private network.
EOT

settings = {
  port      = "TCP port memcached listens on."
  listen    = "Address memcached listens on; 0.0.0.0 is every IPv4 address, which the other instances need."
  memory_mb = "Memory for items, in megabytes; the least recently used items are evicted when it is full."
}

events = {
  setup     = "Installs memcached, starts and enables it."
  configure = "Sets the listen address, the port and the memory in memcached's configuration; restarts memcached (emptying the cache) when they changed."
  deploy    = "Nothing."
  undeploy  = "Nothing."
  shutdown  = "Stops memcached."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. Other memcached options (-c for connections, -t for
  threads) are line resources of your own on /etc/memcached.conf that
  notify service.memcached, which restarts memcached at the end of
  configure. On RHEL, OPTIONS holds -l: replace that line whole.
EOT
