stack "apps" {
  os = "debian"
}

variable "db_password" {
  type      = string
  default   = "changeme"
  sensitive = true
}

variable "workers" {
  type    = number
  default = 4
}

locals {
  release_tag = "v1.4.0"
}

host "app-1" {
  address = "10.0.0.1"
  layers  = ["app", "worker"]
}
