layer "web" {
  on "setup" {
    service "nginx" {
      name = "nginx"
    }
    file "a" {
      path       = "/a"
      depends_on = ["service.nginx"] # ERROR: Invalid reference
    }
    file "b" {
      path   = "/b"
      notify = service.nginx # ERROR: Invalid reference
    }
    file "c" {
      path   = "/c"
      notify = [service.nginx.name] # ERROR: Invalid reference
    }
  }
}
