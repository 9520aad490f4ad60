recipe "base" {
}

recipe "base" { # ERROR: Duplicate recipe
}
