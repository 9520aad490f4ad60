locals {
  a = "x"
  b = local.c # ERROR: Reference to undeclared local value
}

layer "web" {
  on "setup" {
    file "f" {
      path    = local.a
      content = local.nope # ERROR: Reference to undeclared local value
    }
  }
}
