app "shop" { # ERROR: Duplicate app
  layers = ["app"]
  root   = "/srv/shop2"
  source {
    git = "https://git.example.com/b.git"
  }
}
