layer "web" {
  on "setup" {
    file "a" {
      path       = "/a"
      depends_on = [file.b] # ERROR: Dependency cycle
    }
    file "b" {
      path       = "/b"
      depends_on = [file.c]
    }
    file "c" {
      path       = "/c"
      depends_on = [file.a]
    }
    file "self" {
      path       = "/self"
      depends_on = [file.self] # ERROR: Dependency cycle
    }
  }
}
