layer "web" {
  depends_on = ["app"] # ERROR: Layer dependency cycle
}

layer "app" {
  depends_on = ["db"]
}

layer "db" {
  depends_on = ["web"]
}
