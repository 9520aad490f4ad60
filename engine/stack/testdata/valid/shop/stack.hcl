stack "shop" {
  os     = "debian"
  forks  = 50
  become = true
  ssh {
    user              = "opsrun"
    identity_file     = "keys/id_ed25519"
    host_key_checking = "accept-new"
  }
}

variable "app_port" {
  type        = number
  default     = 8080
  description = "Port the app servers listen on."
  validation {
    condition     = var.app_port > 1024
    error_message = "app_port must be above 1024."
  }
}

variable "db_password" {
  type      = string
  default   = "changeme"
  sensitive = true
}

locals {
  greeting = "hello ${var.app_port}"
  banner   = upper(local.greeting)
}

host "web-1" {
  address = "10.0.0.1"
  layers  = ["web"]
}

host "db-1" {
  address = "10.0.0.2"
  layers  = ["db"]
  user    = "admin"
}
