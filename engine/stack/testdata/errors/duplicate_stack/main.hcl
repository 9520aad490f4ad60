stack "one" {
}

stack "two" { # ERROR: Duplicate stack block
}
