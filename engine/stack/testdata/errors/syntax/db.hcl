layer "db" {
  depends_on = ["web"
} # ERROR: Missing item separator
