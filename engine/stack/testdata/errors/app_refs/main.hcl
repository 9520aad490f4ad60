locals {
  where = app.shop.root # ERROR: Invalid reference
}

layer "app" {
  settings = { dir = app.shop.current } # ERROR: Invalid reference
  on "deploy" {
    file "unit" {
      path    = "/etc/systemd/system/shop.service"
      content = "WorkingDirectory=${app.shpo.current}" # ERROR: Reference to undeclared app
    }
    file "env" {
      path    = "${app.shop.currnt}/.env" # ERROR: Unsupported attribute
      content = "x"
    }
    file "ok" {
      path    = "${app.shop.releases}/README"
      content = app.shop.environment.HOST
    }
  }
}

app "shop" {
  layers = ["app"]
  environment = {
    HOST  = host.name # ERROR: Invalid reference
    PEERS = join(",", layer.app.instances) # ERROR: Invalid reference
    NOPE  = var.nope # ERROR: Reference to undeclared input variable
    ROOT  = app.shop.root # ERROR: Invalid reference
    WHAT  = nothing.here # ERROR: Unknown variable
  }
  source {
    git = "https://git.example.com/a.git"
  }
}
