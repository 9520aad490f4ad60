layer "web" {
  on "setup" {
    command "a" {
      command       = "true"
      retries       = -1 # ERROR: Invalid retries
      retry_delay   = "soon" # ERROR: Invalid retry_delay
      timeout       = "30s"
      ignore_errors = "maybe" # ERROR: Invalid ignore_errors
      sensitive     = true
    }
    command "b" {
      command     = "true"
      retries     = 2.5 # ERROR: Invalid retries
      timeout     = -3 # ERROR: Invalid timeout
      retry_delay = host.cpus
      notify_now  = [service.c, file.x] # ERROR: Reference to undeclared resource
    }
    service "c" {
      name       = "c"
      notify_now = [service.d] # ERROR: Notification cycle
    }
    service "d" {
      name       = "d"
      notify     = [service.c]
    }
  }
}
