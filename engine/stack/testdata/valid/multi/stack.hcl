stack "staging" {
  os    = "debian"
  forks = 10
  ssh {
    user            = "deploy"
    proxy_jump      = "bastion.example.com"
    connect_timeout = "5s"
  }
}

defaults {
  port = 2222
  vars = { region = "eu" }
}

host "lb-1" {
  address = "10.1.0.10"
  layers  = ["lb"]
}

host "app-1" {
  address = "10.1.0.20"
  layers  = ["app", "worker"]
  user    = "admin"
}
