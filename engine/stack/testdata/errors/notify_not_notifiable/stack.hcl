layer "web" {
  on "setup" {
    file "a" {
      path   = "/etc/a"
      notify = [file.b] # ERROR: Resource cannot be notified
    }
    file "b" {
      path = "/etc/b"
    }
  }
}
