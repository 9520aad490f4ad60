stack "w" {
  watch {
    interval        = "2m"
    unhealthy_after = "1m" # ERROR: Invalid unhealthy_after
    max_healing     = -1 # ERROR: Invalid max_healing
  }
  watch { # ERROR: Duplicate watch block
  }
}

layer "web" {
  auto_healing  = "reboot" # ERROR: Invalid auto_healing
  target_groups = ["arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1"] # ERROR: Invalid target group
  health_check {
    http = "/up"
  }
  health_check { # ERROR: Duplicate health_check block
    command = "true"
  }
}

layer "app" {
  auto_healing = 3 # ERROR: Invalid auto_healing
  health_check { # ERROR: Missing health check
  }
}

layer "db" {
  rds { # ERROR: RDS layer with recipes
    identifier = "shop-db"
  }
  rds { # ERROR: Duplicate rds block
    identifier = "other"
  }
  on "setup" {
    command "x" {
      command = "true"
    }
  }
}

layer "db2" {
  rds {
    identifier = "9db" # ERROR: Invalid RDS identifier
    region     = var.nope # ERROR: Reference to undeclared input variable
  }
}

layer "db3" {
  rds { # ERROR: Missing required argument
    region = "us-east-1"
  }
}
