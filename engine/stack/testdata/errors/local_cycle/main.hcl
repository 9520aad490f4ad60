locals {
  a = local.b # ERROR: Local value cycle
  b = "${local.c}!"
  c = upper(local.a)
  d = local.a
}
