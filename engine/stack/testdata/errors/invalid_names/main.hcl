layer "2web" { # ERROR: Invalid layer name
}

layer "web" {
  on "setup" {
    package "my tools" { # ERROR: Invalid resource name
      name = "curl"
    }
    package "a" "b" { # ERROR: Invalid resource block
      name = "curl"
    }
  }
}
