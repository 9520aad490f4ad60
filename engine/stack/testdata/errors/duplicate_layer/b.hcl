layer "web" { # ERROR: Duplicate layer
}
