app "shop" {
  layers = ["app", "worker"]
  root   = "/srv/shop/"
  user   = "www-data"

  source {
    git = "https://git.example.com/shop.git"
    ref = local.release_tag
  }

  environment = {
    PORT        = 8080
    DEBUG       = false
    WORKERS     = var.workers
    DB_PASSWORD = var.db_password
    STACK       = stack.name
  }
  shared  = ["log", "tmp/pids/"]
  build   = "make build"
  migrate = "./bin/migrate"

  health_check {
    http     = "/health"
    port     = 8080
    timeout  = "3s"
    retries  = 10
    interval = 0
  }

  keep_releases       = 3
  serial              = "50%"
  max_fail_percentage = 20
  rollback_on_failure = true
}

app "docs" {
  layers = ["app"]
  source {
    archive          = "https://example.com/docs-2.0.tar.gz"
    sha256           = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
    strip_components = 1
  }
  serial = 2
  health_check {
    command = "test -f /srv/docs/current/index.html"
  }
}

app "admin" {
  layers = ["worker"]
  source {
    path = "shop-src"
  }
  health_check {
    http = "https://admin.example.com/ping"
  }
}
