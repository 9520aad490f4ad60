host "a" {
  adress = "1.2.3.4" # ERROR: Unsupported argument
}
