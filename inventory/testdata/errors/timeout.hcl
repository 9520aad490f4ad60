host "a" {
  connect_timeout = "soon" # ERROR: Invalid connect_timeout
}
