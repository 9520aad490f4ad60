variable "port" {
  type    = number
  default = "eighty" # ERROR: Invalid default value for variable
}

variable "hosts" {
  type    = lisst(string) # ERROR: Invalid type specification
  default = []
}
