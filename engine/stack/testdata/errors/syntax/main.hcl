layer "web" {
  on "setup" {
    package "nginx" { name = "nginx" }
  }
  settings = { port = } # ERROR: Invalid expression
}
