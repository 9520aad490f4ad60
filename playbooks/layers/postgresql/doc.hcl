summary = "PostgreSQL server with one database, open to the instances of client layers"

description = <<-EOT
  Installs PostgreSQL from the distribution (Debian's version-independent
  postgresql package; postgresql-server on RHEL, initialised with
  postgresql-setup), listening on listen:port, with one database owned by
  one login role. pg_hba.conf lets that role into that database from
  exactly the private IPs of the instances of the layers named in clients,
  with password (scram-sha-256): configure rewrites a managed block of
  one line per instance, so an instance that leaves the stack can no
  longer connect. The recipes reach the cluster's configuration through
  /var/lib/opsrun/LAYER/conf, a link setup points at Debian's
  /etc/postgresql/VERSION/main (the newest version's) or RHEL's
  /var/lib/pgsql/data.

  Pass the password from a sensitive variable (settings = { password =
  var.db_password }): the file and the command that carry it are then
  hidden from plans, logs and the run history, and it is never on a
  command line (psql reads it on stdin). A changed password is applied at
  the next configure. PostgreSQL refuses an empty password: with the
  default "", the role has none and the clients cannot log in, so set one.

  Only the first instance of the layer is meant to be the database: the
  layer does not set up replication, and each instance of it gets its own
  database.
EOT

settings = {
  port     = "Port PostgreSQL listens on."
  listen   = "listen_addresses: \"*\" is every address, which the clients need; a comma-separated list of addresses limits it."
  database = "The database, owned by user; created at configure when missing."
  user     = "The login role the clients use, from their private IPs only."
  password = "The role's password; give it from a sensitive variable. Empty: the role has no password and cannot log in over the network."
  clients  = "Names of the stack's layers whose instances may connect, as user, to database."
  dump_dir = "Directory (mode 0700) of the dumps shutdown takes: DATABASE-YYYYMMDDTHHMMSSZ.sql.gz."
}

events = {
  setup     = "Installs PostgreSQL (and initialises the cluster on RHEL), links /var/lib/opsrun/LAYER/conf to the cluster's configuration directory, creates dump_dir, starts and enables PostgreSQL."
  configure = "Sets listen_addresses and port in postgresql.conf, restarting PostgreSQL when they changed; rewrites the managed block of pg_hba.conf (one host line per client instance) and reloads when it changed; creates the role and the database when missing and sets the role's password when it changed. Fails, saying which, when clients names a layer the stack does not have."
  deploy    = "Nothing: the apps' layers deploy the apps; migrations are the app's migrate command."
  undeploy  = "Nothing: the database is kept."
  shutdown  = "Dumps the database with pg_dump (a consistent snapshot, taken without blocking writers) to dump_dir/DATABASE-YYYYMMDDTHHMMSSZ.sql.gz, then stops PostgreSQL. A failed dump fails the shutdown and leaves no partial file."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. More server settings are line resources on
  /var/lib/opsrun/LAYER/conf/postgresql.conf (LAYER being the stack
  layer's name) that notify service.postgresql, which restarts PostgreSQL,
  or service.reload for settings a reload applies; more pg_hba.conf lines
  go in a blockinfile of your own, before this layer's block when they
  must win. SQL of your own runs as the postgres superuser: a command
  resource running runuser -u postgres -- psql, guarded by unless.
EOT
