host "web-1" { # ERROR: Duplicate host
  address = "10.0.0.2"
}
