locals {
  a = uppr("x") # ERROR: Call to unknown function
  b = nope.attr # ERROR: Unknown variable
}

layer "web" {
  on "setup" {
    file "f" {
      path    = "/f"
      content = templatefile("missing.tpl", {}) # ERROR: Error in function call
    }
  }
}
