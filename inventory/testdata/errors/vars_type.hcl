host "a" {
  vars = "x" # ERROR: Incorrect attribute value type
}
