stack "shop" {
  forks  = "many" # ERROR: Incorrect attribute value type
  become = "maybe" # ERROR: Incorrect attribute value type
}

layer "web" {
  settings            = "port=80" # ERROR: Incorrect attribute value type
  max_fail_percentage = 150 # ERROR: Invalid max_fail_percentage
  on "setup" {
    service "nginx" {
      name    = "nginx"
      enabled = "sometimes" # ERROR: Incorrect attribute value type
      only_if = "yes please" # ERROR: Incorrect attribute value type
    }
    file "f" {
      path = ["/a", "/b"] # ERROR: Incorrect attribute value type
    }
  }
}
