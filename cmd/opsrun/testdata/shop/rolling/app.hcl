# The app of the rolling deploy test, which copies this file over ../app.hcl:
# two instances per batch, and a batch whose health check fails is switched
# back. An instance is unhealthy while /etc/shop-unhealthy exists.

app "shop" {
  layers = ["app"]

  source {
    path = "site"
  }

  health_check {
    command  = "test ! -e /etc/shop-unhealthy"
    retries  = 1
    interval = "1s"
  }

  keep_releases       = 3
  serial              = 2
  rollback_on_failure = true
}
