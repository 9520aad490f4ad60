stack "shop" {
  froks = 10 # ERROR: Unsupported argument
}

layer "web" {
  max_fails = 3 # ERROR: Unsupported argument
  on "setup" {
    colour = "blue" # ERROR: Unsupported argument
    package "nginx" {
      nmae = "nginx" # ERROR: Unsupported argument
      name = "nginx"
    }
  }
}

variable "port" {
  dflt    = 80 # ERROR: Unsupported argument
  default = 80
}
