# postgresql: PostgreSQL from the distribution, with one database owned by
# one role, which the instances of the client layers may log in as.
# Settings are read as self.settings: the stack may call the layer
# anything, and clients names the stack's layers, whatever they use.
#
# Debian keeps a cluster's configuration in /etc/postgresql/VERSION/main,
# RHEL in its data directory, /var/lib/pgsql/data: setup points
# /var/lib/opsrun/LAYER/conf at whichever it is (the newest version's, on
# Debian), so the recipes name one path whatever the version.

layer "postgresql" {
  settings = {
    port     = 5432
    listen   = "*"
    database = "app"
    user     = "app"
    password = ""
    clients  = ["app"]
    dump_dir = "/var/backups/postgresql"
  }

  on "setup" {
    package "postgresql" {
      name = host.os.family == "rhel" ? "postgresql-server" : "postgresql"
    }

    # Debian's package creates and starts the main cluster; RHEL's leaves
    # that to postgresql-setup.
    command "initdb" {
      only_if = host.os.family == "rhel"
      command = "postgresql-setup --initdb"
      creates = "/var/lib/pgsql/data/PG_VERSION"
    }

    directory "state" {
      path = "/var/lib/opsrun/${self.name}"
      mode = "0700"
    }

    command "conf" {
      command = "ln -sfn \"$(${host.os.family == "rhel" ? "echo /var/lib/pgsql/data" : "ls -d /etc/postgresql/*/main | sort -V | tail -n 1"})\" /var/lib/opsrun/${self.name}/conf && test -f /var/lib/opsrun/${self.name}/conf/pg_hba.conf"
      unless  = "test -f /var/lib/opsrun/${self.name}/conf/pg_hba.conf && test \"$(readlink /var/lib/opsrun/${self.name}/conf)\" = \"$(${host.os.family == "rhel" ? "echo /var/lib/pgsql/data" : "ls -d /etc/postgresql/*/main | sort -V | tail -n 1"})\""
    }

    directory "dumps" {
      path = self.settings.dump_dir
      mode = "0700"
    }

    service "postgresql" {
      name    = "postgresql"
      state   = "started"
      enabled = true
    }
  }

  on "configure" {
    # A stack layer named in clients that does not exist would otherwise
    # let nobody in, silently.
    command "clients" {
      only_if = length(setsubtract(self.settings.clients, keys(layer))) > 0
      command = "echo 'settings.clients of layer ${self.name} names ${join(", ", setsubtract(self.settings.clients, keys(layer)))}, not layers of this stack: name the layers whose instances connect to the database' >&2; exit 1"
    }

    # A new address or port needs a restart, and the role below is made
    # through the socket of the port configured here: restart at once.
    line "listen" {
      path       = "/var/lib/opsrun/${self.name}/conf/postgresql.conf"
      line       = "listen_addresses = '${self.settings.listen}'"
      regexp     = "^#?\\s*listen_addresses\\s*="
      notify_now = [service.postgresql]
    }

    line "port" {
      path       = "/var/lib/opsrun/${self.name}/conf/postgresql.conf"
      line       = "port = ${self.settings.port}"
      regexp     = "^#?\\s*port\\s*="
      notify_now = [service.postgresql]
    }

    # The clients' addresses, one line each; pg_hba.conf is read top down
    # and these lines name one database, one user and one address, so
    # they are added at the end, after the distribution's local lines.
    blockinfile "clients" {
      path   = "/var/lib/opsrun/${self.name}/conf/pg_hba.conf"
      marker = "# {mark} opsrun layer ${self.name}: its clients"
      block  = join("", [for ip in sort(distinct(flatten([for l in self.settings.clients : [for i in layer[l].instances : i.private_ip] if contains(keys(layer), l)]))) :
        "host \"${self.settings.database}\" \"${self.settings.user}\" ${ip}/${strcontains(ip, ":") ? 128 : 32} scram-sha-256\n"
      ])
      notify = [service.reload]
    }

    # The role and the database, from psql variables set by vars.sql:
    # psql quotes them (:'name' as a literal, :"name" as an identifier).
    file "vars" {
      path      = "/var/lib/opsrun/${self.name}/vars.sql"
      mode      = "0600"
      sensitive = true
      content   = <<-EOT
        -- Written by opsrun (built-in layer postgresql, stack layer ${self.name}).
        SELECT '${replace(self.settings.user, "'", "''")}' AS "user",
               '${replace(self.settings.database, "'", "''")}' AS database,
               '${replace(self.settings.password, "'", "''")}' AS password \gset opsrun_
      EOT
    }

    # PostgreSQL salts its password hashes, so the check cannot compare
    # the password: a copy of vars.sql taken when it was last applied
    # tells whether it changed since. The check also finds the role and
    # the database, in case they were dropped by hand. The password is
    # never on a command line; sensitive hides what psql prints about a
    # failing statement, which may quote it.
    command "role" {
      command   = <<-EOT
        cd /var/lib/opsrun/${self.name} && { cat vars.sql; cat <<'SQL'; } | runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres && cp vars.sql vars.sql.applied
        SET password_encryption = 'scram-sha-256';
        SELECT format('CREATE ROLE %I', :'opsrun_user')
          WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'opsrun_user') \gexec
        ALTER ROLE :"opsrun_user" LOGIN PASSWORD :'opsrun_password';
        SELECT format('CREATE DATABASE %I OWNER %I', :'opsrun_database', :'opsrun_user')
          WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'opsrun_database') \gexec
        ALTER DATABASE :"opsrun_database" OWNER TO :"opsrun_user";
        SQL
      EOT
      unless    = <<-EOT
        cd /var/lib/opsrun/${self.name} && cmp -s vars.sql vars.sql.applied && { cat vars.sql; echo "
          SELECT 'ok' FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
            WHERE d.datname = :'opsrun_database' AND r.rolname = :'opsrun_user' AND r.rolcanlogin;"; } |
          runuser -u postgres -- psql -X -tA -d postgres | grep -qx ok
      EOT
      sensitive = true
    }

    service "postgresql" {
      name  = "postgresql"
      state = "started"
    }

    # pg_hba.conf is read again on a reload: no connection is dropped.
    service "reload" {
      name      = "postgresql"
      state     = "started"
      on_notify = "reload"
    }
  }

  on "shutdown" {
    # A dump of the database before the instance leaves; a failed dump
    # leaves no partial file and fails the shutdown, so the instance is
    # kept until it has one.
    command "dump" {
      command = <<-EOT
        f='${replace(self.settings.dump_dir, "'", "'\\''")}'/'${replace(self.settings.database, "'", "'\\''")}'-$(date -u +%Y%m%dT%H%M%SZ).sql
        runuser -u postgres -- pg_dump -- '${replace(self.settings.database, "'", "'\\''")}' > "$f" && gzip "$f" || { rm -f "$f"; exit 1; }
      EOT
    }

    service "postgresql" {
      name  = "postgresql"
      state = "stopped"
    }
  }
}
