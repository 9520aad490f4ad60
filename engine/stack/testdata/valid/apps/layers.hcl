layer "app" {
  on "deploy" {
    file "unit" {
      path    = "/etc/systemd/system/shop.service"
      content = "[Service]\nWorkingDirectory=${app.shop.current}\nEnvironmentFile=${app.shop.current}/.env\n"
      notify  = [service.shop]
    }
    service "shop" {
      name = "shop"
    }
  }
}

layer "worker" {
  on "deploy" {
    file "worker_env" {
      path    = "${app.shop.shared}/worker.env"
      content = join("\n", [for k, v in app.shop.environment : "${k}=${v}"])
    }
  }
}
