layer "web" {
  depends_on = ["dbb"] # ERROR: Unknown layer
  on "configure" {
    file "upstreams" {
      path    = "/etc/upstreams"
      content = join(",", [for i in layer.app.instances : i.address]) # ERROR: Reference to undeclared layer
    }
  }
}

layer "db" {
}
