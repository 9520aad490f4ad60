recipe "base" {
  package "tools" {
    name = "curl"
  }
}

layer "web" {
  on "setup" {
    include "base" {}
    package "tools" { # ERROR: Duplicate resource
      name = "less"
    }
    include "base" {} # ERROR: Duplicate resource
    service "nginx" {
      name = "nginx"
    }
    service "nginx" { # ERROR: Duplicate resource
      name = "nginx"
    }
  }
}
