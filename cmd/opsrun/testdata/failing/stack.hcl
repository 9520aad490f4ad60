# A stack whose second resource fails on web-1 only: the failure must stop
# web-1's remaining resources and nothing else.
stack "failing" {}

variable "max_fail" {
  type    = number
  default = 100
}

layer "web" {
  max_fail_percentage = var.max_fail

  on "deploy" {
    file "first" {
      path    = "/tmp/opsrun-first"
      content = "first\n"
    }
    command "breaks" {
      command = host.name == "web-1" ? "echo broken on purpose >&2; exit 3" : "true"
      creates = "/tmp/opsrun-never"
    }
    file "last" {
      path    = "/tmp/opsrun-last"
      content = "last\n"
    }
  }
}
