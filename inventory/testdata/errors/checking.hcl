defaults {
  host_key_checking = "no" # ERROR: Invalid host_key_checking
}
