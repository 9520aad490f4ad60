summary = "MariaDB server with one database, open to the instances of client layers"

description = <<-EOT
  Installs MariaDB from the distribution (mariadb-server, service
  mariadb), listening on bind_address:port, with one database and one
  user. The user may log in from exactly the private IPs of the instances
  of the layers named in clients, with password, and has every privilege
  on the database: configure creates 'user'@'IP' with GRANT ALL for each
  instance and drops the rows of instances that left, so an instance that
  leaves the stack can no longer connect. Every host row of the user other
  than localhost, 127.0.0.1 and ::1 is the layer's to drop: do not grant
  that user from elsewhere by hand.

  Pass the password from a sensitive variable (settings = { password =
  var.db_password }): the files and commands that carry it are then hidden
  from plans, logs and the run history. It is never on a command line: the
  grants are made from SQL files under /var/lib/opsrun/LAYER (mode 0700)
  fed to mysql on stdin. A changed password is applied at the next
  configure, as is a grant changed or dropped by hand: the check behind
  the sync compares each wanted row's password hash and grant, not only
  the list of hosts. An empty password lets the clients in without one.

  Only the first instance of the layer is meant to be the database: the
  layer does not set up replication, and each instance of it gets its own
  database.
EOT

settings = {
  port         = "Port MariaDB listens on."
  bind_address = "Address MariaDB listens on; 0.0.0.0 is every IPv4 address, which the clients need."
  database     = "The database created at setup (and at configure when missing)."
  user         = "The user the clients log in as, from their private IPs only."
  password     = "The user's password; give it from a sensitive variable. Empty: no password."
  clients      = "Names of the stack's layers whose instances may connect, as user, to database."
  dump_dir     = "Directory (mode 0700) of the dumps shutdown takes: DATABASE-YYYYMMDDTHHMMSSZ.sql.gz."
}

events = {
  setup     = "Installs mariadb-server, writes the server configuration (bind_address, port) to /etc/mysql/mariadb.conf.d/90-opsrun.cnf (/etc/my.cnf.d/opsrun.cnf on RHEL), starts and enables MariaDB, creates dump_dir and the database."
  configure = "Rewrites the server configuration and restarts MariaDB when it changed; then syncs the grants: 'user'@'IP' with password and ALL on database for each instance of the clients' layers, DROP USER for the user's other rows. Changes nothing when the grants are already right. Fails, saying which, when clients names a layer the stack does not have."
  deploy    = "Nothing: the apps' layers deploy the apps; migrations are the app's migrate command."
  undeploy  = "Nothing: the database is kept."
  shutdown  = "Dumps the database with mysqldump --single-transaction (a consistent snapshot, without locking the tables) to dump_dir/DATABASE-YYYYMMDDTHHMMSSZ.sql.gz, then stops MariaDB. A failed dump fails the shutdown and leaves no partial file."
}

extend = <<-EOT
  Add resources to the stack layer's own on blocks; they run after the
  built-in's. More server settings go in a file of their own in
  /etc/mysql/mariadb.conf.d (named after 90-opsrun.cnf to win over it)
  that notifies service.mariadb, which restarts MariaDB at the end of the
  event. SQL of your own runs as root through the unix socket: a command
  resource running mysql, guarded by unless so it runs only when needed.
EOT
