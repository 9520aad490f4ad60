layer "web" {
  on "boot" { # ERROR: Unknown lifecycle event
  }
  on "setup" {
  }
  on "setup" { # ERROR: Duplicate event block
  }
}
