layer "web" {
  on "setup" {
    service "a" {
      name   = "a"
      notify = [service.b] # ERROR: Notification cycle
    }
    service "b" {
      name   = "b"
      notify = [service.a]
    }
  }
}
