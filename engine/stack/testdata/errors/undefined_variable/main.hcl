variable "port" {
  default = 80
}

locals {
  url = "http://localhost:${var.prot}" # ERROR: Reference to undeclared input variable
}

layer "web" {
  settings = { port = var.nope } # ERROR: Reference to undeclared input variable
  on "setup" {
    file "f" {
      path    = "/etc/app.conf"
      content = "port=${var.port} ${var.missing}" # ERROR: Reference to undeclared input variable
    }
  }
}

layer "db" {
  max_fail_percentage = var.db_fail # ERROR: Reference to undeclared input variable
}
