# ec2: a stack whose hosts all come from EC2. Instances are selected by a
# tag filter, their layers read from a tag, and each one's metadata
# (host.vars.instance_id, instance_type, availability_zone, private_ip,
# public_ip, tags) is there for recipes. No host is declared here.
#
# Against testenv's local AWS endpoint, from the repository's root:
#
#   opsrun testenv up --name ec2 --layers web:2,db:1 --aws
#   set -a; . .opsrun/testenv/ec2/aws.env; set +a
#   opsrun inventory examples/ec2
#   opsrun run setup examples/ec2 --ssh-config .opsrun/testenv/ec2/ssh_config
#   opsrun up examples/ec2 --ssh-config .opsrun/testenv/ec2/ssh_config
#   opsrun watch examples/ec2 --ssh-config .opsrun/testenv/ec2/ssh_config --metrics-sink stdout
#   docker kill opsrun-ec2-web-2   # the watcher replaces it (a new container) and sets it up
#   opsrun testenv down --name ec2
#
# The fleet's ssh_config supplies each host's key and known_hosts by name.
# Against AWS, your usual `aws` CLI configuration is all opsrun needs: tag
# the instances opsrun:stack and opsrun:layer (e.g. "web" or "web,cron"),
# and use -var address=private_ip (with a bastion) or public_ip.

stack "ec2" {
  os = "debian"

  watch {
    interval        = "20s"
    unhealthy_after = "1m"
  }
}

variable "stack_tag" {
  type        = string
  default     = "ec2"
  description = "Value of the instances' opsrun:stack tag."
}

variable "address" {
  type        = string
  default     = "public_ip"
  description = "Which address to dial: private_ip, public_ip or private_dns. testenv's instances publish their SSH port on 127.0.0.1 as public_ip."
}

variable "user" {
  type    = string
  default = "opsrun"
}

inventory "ec2" {
  filters   = { "tag:opsrun:stack" = [var.stack_tag] }
  layer_tag = "opsrun:layer"
  address   = var.address
  user      = var.user
}

# Each instance records what EC2 says about it, as a recipe would use it.
recipe "instance" {
  file "instance" {
    path    = "/etc/opsrun-instance"
    mode    = "0644"
    content = <<-EOT
      id=${host.vars.instance_id}
      type=${host.vars.instance_type}
      az=${host.vars.availability_zone}
      stack=${host.vars.tags["opsrun:stack"]}
      layers=${join(",", host.layers)}
    EOT
  }
}

# An unhealthy web instance (failing for unhealthy_after) is terminated
# and replaced by a like one, which gets setup; a db instance is stopped
# and started.
layer "web" {
  auto_healing = "replace"
  on "setup" {
    include "instance" {}
  }
}

layer "db" {
  auto_healing = "restart"
  on "setup" {
    include "instance" {}
  }
}
