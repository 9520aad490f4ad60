recipe "base" {
  pakage "tools" { # ERROR: Unknown resource type
    name = "curl"
  }
}

layer "web" {
  on "setup" {
    inclde "base" {} # ERROR: Unknown resource type
    template "x" { # ERROR: Unknown resource type
      path = "/x"
    }
  }
}
