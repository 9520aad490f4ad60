host "a" {
  port = "ssh" # ERROR: Incorrect attribute value type
}
