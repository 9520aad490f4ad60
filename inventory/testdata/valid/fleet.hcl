defaults {
  user              = "opsrun"
  identity_file     = "id_ed25519"
  known_hosts       = ["known_hosts", "/etc/ssh/ssh_known_hosts"]
  host_key_checking = "accept-new"
  connect_timeout   = "5s"
  vars              = { region = "eu", tier = "gold" }
}

host "web-1" {
  address = "127.0.0.1"
  port    = 2201
  layers  = ["web", "monitoring"]
  vars    = { tier = "silver" }
}

host "db-1" {
  address    = "10.0.0.5"
  user       = "admin"
  layers     = ["db"]
  proxy_jump = "opsrun@bastion.example.com:2222"
}

host "lonely" {
  layers = []
}
