variable "port" {
  default = 80
}

variable "port" { # ERROR: Duplicate variable
  default = 81
}

locals {
  a = 1
}

locals {
  a = 2 # ERROR: Duplicate local value
}
