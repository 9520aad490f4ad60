layer "app" {}

app "none" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
  health_check { # ERROR: Missing health check
  }
}

app "both" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
  health_check {
    http    = "/health"
    command = "true" # ERROR: Conflicting health check
  }
  health_check { # ERROR: Duplicate health_check block
    command = "true"
  }
}

app "command_port" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
  health_check {
    command  = "" # ERROR: Invalid health check command
    port     = 8080 # ERROR: Unexpected port
    timeout  = "0s" # ERROR: Invalid timeout
    interval = "-1s" # ERROR: Invalid interval
    retries  = -1 # ERROR: Invalid retries
  }
}

app "url_port" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
  health_check {
    http    = "http://127.0.0.1:9000/health"
    port    = 9000 # ERROR: Unexpected port
    timeout = "soon" # ERROR: Invalid timeout
  }
}

app "bad_port" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
  health_check {
    http = "/health"
    port = 70000 # ERROR: Invalid port
  }
}

app "bad_url" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
  health_check {
    http   = "health" # ERROR: Invalid health check URL
    expect = 200 # ERROR: Unsupported argument
  }
}

app "ftp_url" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
  health_check {
    http = "ftp://127.0.0.1/health" # ERROR: Invalid health check URL
  }
}
