layer "app" {}

variable "secret" {
  type      = string
  default   = "s3cret"
  sensitive = true
}

app "nolayers" { # ERROR: Missing required argument
  source {
    git = "https://git.example.com/a.git"
  }
}

app "layers" {
  layers = [] # ERROR: Invalid layers
  source {
    git = "https://git.example.com/a.git"
  }
}

app "typo" {
  layers = [
    "ap", # ERROR: Unknown layer
    "app",
    "app", # ERROR: Duplicate layer
  ]
  root = "srv/typo" # ERROR: Invalid root
  user = "bad user" # ERROR: Invalid user
  source {
    git = "https://git.example.com/a.git"
  }
}

app "paths" {
  layers = ["app"]
  root   = "/srv/../etc" # ERROR: Invalid root
  shared = [
    "/var/log", # ERROR: Invalid shared directory
    "../up", # ERROR: Invalid shared directory
    "", # ERROR: Invalid shared directory
    "log",
    "log/", # ERROR: Duplicate shared directory
  ]
  build = "make TOKEN=${var.secret}" # ERROR: Sensitive value not allowed
  source {
    git = "https://git.example.com/a.git"
  }
}

app "slash" {
  layers = ["app"]
  root   = "/" # ERROR: Invalid root
  source {
    git = "https://git.example.com/a.git"
  }
}

app "env" {
  layers = ["app"]
  environment = {
    "1BAD" = "x" # ERROR: Invalid environment variable name
    LIST   = ["a"] # ERROR: Invalid environment value
    NOPE   = null # ERROR: Invalid environment value
    GOOD   = "fine"
  }
  source {
    git = "https://git.example.com/a.git"
  }
}

app "envtype" {
  layers      = ["app"]
  environment = "PORT=80" # ERROR: Incorrect attribute value type
  source {
    git = "https://git.example.com/a.git"
  }
}

app "numbers" {
  layers              = ["app"]
  keep_releases       = 0 # ERROR: Invalid keep_releases
  serial              = "150%" # ERROR: Invalid serial
  max_fail_percentage = 101 # ERROR: Invalid max_fail_percentage
  rollback_on_failure = "maybe" # ERROR: Incorrect attribute value type
  bogus               = 1 # ERROR: Unsupported argument
  source {
    git = "https://git.example.com/a.git"
  }
  hooks { # ERROR: Unsupported block type
  }
}

app "serial_zero" {
  layers = ["app"]
  serial = 0 # ERROR: Invalid serial
  source {
    git = "https://git.example.com/a.git"
  }
}

app "serial_fraction" {
  layers = ["app"]
  serial = 1.5 # ERROR: Invalid serial
  source {
    git = "https://git.example.com/a.git"
  }
}

app "serial_word" {
  layers = ["app"]
  serial = "half" # ERROR: Invalid serial
  source {
    git = "https://git.example.com/a.git"
  }
}

app "outer" {
  layers = ["app"]
  root   = "/srv/outer"
  source {
    git = "https://git.example.com/a.git"
  }
}

app "inner" { # ERROR: Conflicting app roots
  layers = ["app"]
  root   = "/srv/outer/inner"
  source {
    git = "https://git.example.com/a.git"
  }
}
