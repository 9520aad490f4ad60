locals {
  family = host.os.family # ERROR: Invalid reference
  web    = layer.web.instances # ERROR: Invalid reference
  ok     = "fine"
}

layer "web" {
  settings = { init = host.init } # ERROR: Invalid reference
}
