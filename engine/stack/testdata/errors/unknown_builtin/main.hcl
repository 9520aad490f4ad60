layer "lb" {
  use = "haproxy" # ERROR: Unknown built-in layer
}
