# shop: the OpsWorks demo. An HAProxy load balancer in front of two
# Python app instances whose page counts visits in MariaDB, one database
# instance, and a background worker — every layer a built-in one, extended
# with a few resources of the stack's own. `make demo` runs it:
#
#   opsrun testenv up --name demo --layers lb:1,app:2,db:1,worker:1
#   opsrun up examples/shop -i .opsrun/testenv/demo/inventory.hcl
#   opsrun deploy shop examples/shop -i .opsrun/testenv/demo/inventory.hcl
#   opsrun deploy shopworker examples/shop -i .opsrun/testenv/demo/inventory.hcl
#
# Then keep it healthy: opsrun watch checks every instance each interval,
# sets up again an app instance that fails for unhealthy_after, and prints
# the instances' metrics (or sends them to CloudWatch):
#
#   opsrun watch examples/shop -i .opsrun/testenv/demo/inventory.hcl --metrics-sink stdout

stack "shop" {
  os    = "debian"
  forks = 20

  watch {
    interval        = "30s"
    unhealthy_after = "2m"
  }
}

variable "db_password" {
  type        = string
  sensitive   = true
  default     = "shop-demo-only"
  description = "The shop's MariaDB password: never printed, written only to the hosts that need it."
}

# Where the app and the worker find the database. Setup writes it, so a
# new instance has it before its first deploy; configure rewrites it, so it
# follows the db layer's membership.
recipe "db_config" {
  package "pymysql" {
    name = "python3-pymysql"
  }

  directory "etc" {
    path = "/etc/shop"
  }

  file "db" {
    path  = "/etc/shop/db.json"
    mode  = "0640"
    group = "www-data"
    content = jsonencode({
      host     = try(layer.db.instances[0].private_ip, "")
      database = "shop"
      user     = "shop"
      password = var.db_password
    })
  }
}

layer "lb" {
  use = "haproxy"
  settings = {
    backends    = ["app"]
    health_path = "/health"
    stats_port  = 8404
  }

  on "setup" {
    # For `make demo`'s requests through the load balancer.
    package "curl" {
      name = "curl"
    }
  }
}

layer "app" {
  use = "python"
  settings = {
    module = "shop:app"
  }
  # The watcher's check, besides answering SSH; a static host that stays
  # unhealthy is set up again and given its release.
  auto_healing = true
  health_check {
    http = "/health"
    port = 8080
  }

  on "setup" {
    include "db_config" {}
  }
  on "configure" {
    include "db_config" {}
  }
}

layer "worker" {
  use = "worker"
  settings = {
    processes = 1
    command   = "python3 worker.py"
  }

  on "setup" {
    include "db_config" {}
  }
  on "configure" {
    include "db_config" {}
  }
}

layer "db" {
  use = "mysql"
  # Configure the load balancer first: an app instance that leaves stops
  # getting requests before the database drops its grant.
  depends_on = ["lb"]
  settings = {
    database = "shop"
    user     = "shop"
    password = var.db_password
    clients  = ["app", "worker"]
  }
}

app "shop" {
  layers = ["app"]
  source {
    path = "shop"
  }
  environment = {
    SHOP_DB_CONFIG = "/etc/shop/db.json"
  }
  migrate = "python3 migrate.py"
  health_check {
    http = "/health"
    port = 8080
  }
  serial              = 1
  rollback_on_failure = true
}

# The same code, run as a background worker.
app "shopworker" {
  layers = ["worker"]
  source {
    path = "shop"
  }
  environment = {
    SHOP_DB_CONFIG = "/etc/shop/db.json"
  }
  health_check {
    command = "systemctl is-active opsrun-shopworker-worker@1"
  }
}
