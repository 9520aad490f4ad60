host "a" {
  layers = "web" # ERROR: Incorrect attribute value type
}
