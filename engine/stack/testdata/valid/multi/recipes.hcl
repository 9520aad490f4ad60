recipe "base" {
  package "base" {
    name = var.packages
  }
  include "users" {}
}

recipe "users" {
  directory "app_dir" {
    path  = local.app_dir
    owner = "app"
  }
}

recipe "app" {
  directory "release" {
    path       = local.release
    depends_on = [directory.app_dir]
  }
  file "env" {
    path       = "${local.release}/.env"
    content    = join("\n", local.env_lines)
    mode       = "0600"
    depends_on = [directory.release]
    notify     = [service.app]
  }
  command "switch" {
    command    = "ln -sfn ${local.release} ${local.current}"
    creates    = local.current
    depends_on = [file.env]
    notify     = [service.app]
  }
}
