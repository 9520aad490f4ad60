layer "web" {
  on "setup" {
    file "index" { # ERROR: Missing required argument
      content = "hi"
    }
    service "nginx" { # ERROR: Missing required argument
    }
  }
}
