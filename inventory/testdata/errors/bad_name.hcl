host "-a" { # ERROR: Invalid host name
}
