host "a" {
  layers = ["web server"] # ERROR: Invalid layer name
}
