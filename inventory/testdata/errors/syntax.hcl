host "a" {
  address = "x" "y" # ERROR: Missing newline after argument
}
