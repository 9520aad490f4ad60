# The smallest useful stack: one layer, one resource, no stack block (the
# stack is named after its directory).
layer "app" {
  on "deploy" {
    command "hello" {
      command = "echo hello"
    }
  }
}
