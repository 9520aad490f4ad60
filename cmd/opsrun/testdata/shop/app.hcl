# The app of the canonical flow. rolling/app.hcl replaces this file for the
# rolling deploy test.

app "shop" {
  layers = ["app"]

  source {
    path = "site"
  }

  environment = {
    PORT        = "8080"
    DB_PASSWORD = var.db_password
  }

  build   = "date +%s > BUILD_ID"
  migrate = "echo \"$(hostname) $(cat VERSION)\" >> /var/tmp/shop-migrations"

  # The hosts have no curl or wget: the check goes through bash's /dev/tcp.
  health_check {
    http     = "/health"
    port     = 8080
    retries  = 10
    interval = "1s"
  }

  keep_releases = 3
}
