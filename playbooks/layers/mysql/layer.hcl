# mysql: MariaDB from the distribution, with one database and one user
# whose grants follow the instances of the client layers. Settings are read
# as self.settings: the stack may call the layer anything, and clients
# names the stack's layers, whatever they use.
#
# The grants are kept in sync by SQL files under /var/lib/opsrun/LAYER
# (root only): vars.sql holds the user, the database, the password and the
# wanted hosts (it is sensitive: plans and logs show no diff of it);
# acl.sql creates, updates and drops the grants from those variables. The
# sync runs unless a check, reading the same variables, finds exactly the
# wanted hosts with the password and the grant already there.

# The server's own configuration, in setup (so the first start listens
# where it should) and in configure (so a changed setting applies).
recipe "server" {
  file "server_cnf" {
    path    = host.os.family == "rhel" ? "/etc/my.cnf.d/opsrun.cnf" : "/etc/mysql/mariadb.conf.d/90-opsrun.cnf"
    content = <<-EOT
      # Written by opsrun (built-in layer mysql, stack layer ${self.name}).
      # Read after the distribution's server configuration, so it wins.
      [mysqld]
      bind-address = ${self.settings.bind_address}
      port = ${self.settings.port}
    EOT
    notify  = [service.mariadb]
  }

  service "mariadb" {
    name    = "mariadb"
    state   = "started"
    enabled = true
  }
}

layer "mysql" {
  settings = {
    port         = 3306
    bind_address = "0.0.0.0"
    database     = "app"
    user         = "app"
    password     = ""
    clients      = ["app"]
    dump_dir     = "/var/backups/mysql"
  }

  on "setup" {
    package "mariadb" {
      name = "mariadb-server"
    }

    include "server" {}

    directory "state" {
      path = "/var/lib/opsrun/${self.name}"
      mode = "0700"
    }

    directory "dumps" {
      path = self.settings.dump_dir
      mode = "0700"
    }

    command "database" {
      command = "mysql -e '${replace("CREATE DATABASE IF NOT EXISTS `${replace(self.settings.database, "`", "``")}`", "'", "'\\''")}'"
      unless  = "mysql -N -B -e 'SHOW DATABASES' | grep -qxF -- '${replace(self.settings.database, "'", "'\\''")}'"
    }
  }

  on "configure" {
    include "server" {}

    # A stack layer named in clients that does not exist would otherwise
    # grant nothing, silently.
    command "clients" {
      only_if = length(setsubtract(self.settings.clients, keys(layer))) > 0
      command = "echo 'settings.clients of layer ${self.name} names ${join(", ", setsubtract(self.settings.clients, keys(layer)))}, not layers of this stack: name the layers whose instances connect to the database' >&2; exit 1"
    }

    file "vars" {
      path      = "/var/lib/opsrun/${self.name}/vars.sql"
      mode      = "0600"
      sensitive = true
      content = <<-EOT
        -- Written by opsrun (built-in layer mysql, stack layer ${self.name}).
        SET @user = '${replace(replace(self.settings.user, "\\", "\\\\"), "'", "''")}',
            @db = '${replace(replace(self.settings.database, "\\", "\\\\"), "'", "''")}',
            @password = '${replace(replace(self.settings.password, "\\", "\\\\"), "'", "''")}',
            @hosts = '${join(",", sort(distinct(flatten([for l in self.settings.clients : [for i in layer[l].instances : i.private_ip] if contains(keys(layer), l)]))))}';
      EOT
    }

    # Every host row of the user but localhost's is the layer's: rows for
    # instances that left are dropped.
    file "acl" {
      path    = "/var/lib/opsrun/${self.name}/acl.sql"
      mode    = "0600"
      content = <<-EOT
        -- Written by opsrun (built-in layer mysql, stack layer ${self.name}):
        -- grants for the instances of ${join(", ", self.settings.clients)}. Run after vars.sql.
        SET @dbq = CONCAT('`', REPLACE(@db, '`', '``'), '`');
        EXECUTE IMMEDIATE CONCAT('CREATE DATABASE IF NOT EXISTS ', @dbq);
        %{ for ip in sort(distinct(flatten([for l in self.settings.clients : [for i in layer[l].instances : i.private_ip] if contains(keys(layer), l)]))) }SET @host = '${ip}';
        EXECUTE IMMEDIATE CONCAT('CREATE USER IF NOT EXISTS ', QUOTE(@user), '@', QUOTE(@host));
        EXECUTE IMMEDIATE CONCAT('ALTER USER ', QUOTE(@user), '@', QUOTE(@host), ' IDENTIFIED BY ', QUOTE(@password));
        EXECUTE IMMEDIATE CONCAT('GRANT ALL ON ', @dbq, '.* TO ', QUOTE(@user), '@', QUOTE(@host));
        %{ endfor }SELECT GROUP_CONCAT(QUOTE(user), '@', QUOTE(host)) INTO @stale FROM mysql.user
          WHERE user = @user AND host NOT IN ('localhost', '127.0.0.1', '::1') AND FIND_IN_SET(host, @hosts) = 0;
        EXECUTE IMMEDIATE IF(@stale IS NULL, 'DO 0', CONCAT('DROP USER ', @stale));
      EOT
    }

    # The check compares the user's host rows with the wanted hosts, and
    # each wanted row's password hash and grant with what they should be:
    # a changed password or a grant lost by hand is applied again. Both
    # read vars.sql on stdin, so the password is never on a command line;
    # sensitive hides what MariaDB prints about a failing statement, which
    # may quote it.
    command "acl" {
      command   = "cat /var/lib/opsrun/${self.name}/vars.sql /var/lib/opsrun/${self.name}/acl.sql | mysql"
      unless    = <<-EOT
        { cat /var/lib/opsrun/${self.name}/vars.sql; echo "
          SELECT IF(
            EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = @db)
            AND (SELECT COUNT(*) FROM mysql.user u JOIN mysql.db d ON d.user = u.user AND d.host = u.host
                 WHERE u.user = @user AND FIND_IN_SET(u.host, @hosts) > 0 AND d.db = @db
                   AND u.authentication_string = PASSWORD(@password))
              = IF(@hosts = '', 0, LENGTH(@hosts) - LENGTH(REPLACE(@hosts, ',', '')) + 1)
            AND NOT EXISTS (SELECT 1 FROM mysql.user WHERE user = @user
                 AND host NOT IN ('localhost', '127.0.0.1', '::1') AND FIND_IN_SET(host, @hosts) = 0),
            'ok', 'stale');"; } | mysql -N -B | grep -qx ok
      EOT
      sensitive = true
    }
  }

  on "shutdown" {
    # A dump of the database before the instance leaves; a failed dump
    # leaves no partial file and fails the shutdown, so the instance is
    # kept until it has one.
    command "dump" {
      command = <<-EOT
        f='${replace(self.settings.dump_dir, "'", "'\\''")}'/'${replace(self.settings.database, "'", "'\\''")}'-$(date -u +%Y%m%dT%H%M%SZ).sql
        mysqldump --single-transaction -- '${replace(self.settings.database, "'", "'\\''")}' > "$f" && gzip "$f" || { rm -f "$f"; exit 1; }
      EOT
    }

    service "mariadb" {
      name  = "mariadb"
      state = "stopped"
    }
  }
}
