layr "web" { # ERROR: Unsupported block type
}

stack "shop" {
  sssh { # ERROR: Unsupported block type
  }
}
