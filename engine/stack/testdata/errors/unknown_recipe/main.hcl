recipe "base" {
}

layer "web" {
  on "setup" {
    include "bsae" {} # ERROR: Unknown recipe
  }
}
