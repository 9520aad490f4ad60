layer "app" {}

variable "token" {
  type      = string
  default   = "t0ken"
  sensitive = true
}

app "nosource" { # ERROR: Missing source block
  layers = ["app"]
}

app "twosources" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
  source { # ERROR: Duplicate source block
    path = "."
  }
}

app "empty" {
  layers = ["app"]
  source { # ERROR: Missing source
  }
}

app "both" {
  layers = ["app"]
  source {
    git  = "https://git.example.com/a.git"
    path = "." # ERROR: Conflicting source
  }
}

app "archive_no_sum" {
  layers = ["app"]
  source {
    archive = "https://example.com/a.tar.gz" # ERROR: Missing sha256
    ref     = "main" # ERROR: Argument not valid for this source
  }
}

app "archive_bad" {
  layers = ["app"]
  source {
    archive          = "ftp://example.com/a.tar.gz" # ERROR: Invalid archive URL
    sha256           = "abc123" # ERROR: Invalid sha256
    strip_components = -1 # ERROR: Invalid strip_components
  }
}

app "git_bad" {
  layers = ["app"]
  source {
    git              = "" # ERROR: Invalid git URL
    ref              = "--upload-pack=evil" # ERROR: Invalid ref
    sha256           = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" # ERROR: Argument not valid for this source
    strip_components = 1 # ERROR: Argument not valid for this source
  }
}

app "git_secret" {
  layers = ["app"]
  source {
    git = "https://deploy:${var.token}@git.example.com/a.git" # ERROR: Sensitive value not allowed
    ref = "a b" # ERROR: Invalid ref
  }
}

app "missing_dir" {
  layers = ["app"]
  source {
    path = "no-such-dir" # ERROR: Invalid source path
  }
}

app "file_not_dir" {
  layers = ["app"]
  source {
    path = "main.hcl" # ERROR: Invalid source path
  }
}

app "unknown_arg" {
  layers = ["app"]
  source {
    git    = "https://git.example.com/a.git"
    branch = "main" # ERROR: Unsupported argument
  }
}
