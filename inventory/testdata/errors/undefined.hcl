host "a" {
  user = var.user # ERROR: Variables not allowed
}
