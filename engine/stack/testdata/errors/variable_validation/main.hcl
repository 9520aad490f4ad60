variable "app_port" {
  type    = number
  default = 80
  validation {
    condition     = var.app_port > 1024 # ERROR: Invalid value for variable
    error_message = "app_port must be above 1024."
  }
}

variable "env" {
  default = "prod"
  validation {
    condition     = contains(["staging", "prod"], var.env)
    error_message = "env must be staging or prod."
  }
  validation {
    condition     = local.x # ERROR: Invalid reference
    error_message = "locals are not allowed here."
  }
}
