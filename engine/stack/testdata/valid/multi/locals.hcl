# Locals may use each other in any order and across files.
locals {
  app_dir   = "/srv/${var.app.name}"
  release   = "${local.app_dir}/releases/${var.release}"
  current   = "${local.app_dir}/current"
  env_lines = [for k, v in local.env : "${k}=${v}"]
}

locals {
  env = {
    PORT    = tostring(var.app.port)
    WORKERS = tostring(var.app.workers)
    API_KEY = var.api_key
  }
}
