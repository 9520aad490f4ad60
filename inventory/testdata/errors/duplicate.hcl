host "a" {
}
host "a" { # ERROR: Duplicate host
}
