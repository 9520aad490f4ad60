hots "a" { # ERROR: Unsupported block type
}
