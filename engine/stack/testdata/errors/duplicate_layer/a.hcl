layer "web" {
}
