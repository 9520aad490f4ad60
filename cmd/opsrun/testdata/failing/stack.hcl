# A stack whose second resource fails on web-1 only: the failure must stop
# web-1's remaining resources and nothing else.
stack "failing" {}

layer "web" {
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
