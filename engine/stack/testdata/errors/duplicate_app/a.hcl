layer "app" {}

app "shop" {
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
}

app "9lives" { # ERROR: Invalid app name
  layers = ["app"]
  source {
    git = "https://git.example.com/a.git"
  }
}
