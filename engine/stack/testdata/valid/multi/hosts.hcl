# A second file's hosts: its own defaults, none here.
host "app-2" {
  address = "10.1.0.21"
  layers  = ["app"]
}
