stack "shop" {
  ssh {
    user              = "opsrun"
    address           = "10.0.0.1" # ERROR: Unsupported argument
    host_key_checking = "yes" # ERROR: Invalid host_key_checking
  }
}

host "web-1" {
  port = 99999 # ERROR: Invalid port
}
