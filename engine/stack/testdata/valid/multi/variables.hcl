variable "release" {
  type    = string
  default = "v1.4.2"
  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+$", var.release))
    error_message = "release must look like v1.2.3."
  }
}

variable "app" {
  type = object({
    name    = string
    port    = optional(number, 3000)
    workers = optional(number, 2)
  })
  default = { name = "shop" }
}

variable "packages" {
  type    = list(string)
  default = ["curl", "ca-certificates"]
}

variable "api_key" {
  type      = string
  default   = "dev-key"
  sensitive = true
}

variable "anything" {
  default = null
}
