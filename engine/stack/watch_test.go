package stack

import (
	"slices"
	"testing"
	"time"
)

func TestWatchSettings(t *testing.T) {
	s := mustLoad(t, Inputs{Vars: []string{"heal=replace"}}, map[string]string{"s.hcl": `
stack "w" {
  watch {
    interval        = 10
    unhealthy_after = "30s"
    max_healing     = 2
  }
}
variable "heal" {}
layer "web" {
  auto_healing  = var.heal
  target_groups = [
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123abcd",
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123abcd",
  ]
  health_check {
    http    = "/up"
    port    = 8080
    timeout = "3s"
  }
}
layer "cron" {
  auto_healing = true
}
layer "off" {
  auto_healing = false
}
layer "db" {
  rds {
    identifier = "shop-db"
    region     = "eu-west-1"
  }
}
`})
	w := s.Settings.Watch
	if w.Interval != 10*time.Second || w.UnhealthyAfter != 30*time.Second || w.MaxHealing != 2 {
		t.Errorf("watch = %+v", w)
	}
	web := s.Layer("web")
	if web.AutoHealing != HealReplace {
		t.Errorf("web auto_healing = %q, want replace", web.AutoHealing)
	}
	if hc := web.HealthCheck; hc == nil || hc.URL != "http://127.0.0.1:8080/up" || hc.Timeout != 3*time.Second {
		t.Errorf("web health check = %+v", web.HealthCheck)
	}
	if !slices.Equal(web.TargetGroups, []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123abcd"}) {
		t.Errorf("target groups = %q, want the one ARN once", web.TargetGroups)
	}
	if got := s.Layer("cron").AutoHealing; got != HealAuto {
		t.Errorf("auto_healing = true gave %q", got)
	}
	if got := s.Layer("off").AutoHealing; got != "" {
		t.Errorf("auto_healing = false gave %q", got)
	}
	if r := s.Layer("db").RDS; r == nil || r.Identifier != "shop-db" || r.Region != "eu-west-1" {
		t.Errorf("rds = %+v", r)
	}
}

func TestWatchDefaults(t *testing.T) {
	s := mustLoad(t, Inputs{}, map[string]string{"s.hcl": `layer "web" {}`})
	w := s.Settings.Watch
	if w.Interval != time.Minute || w.UnhealthyAfter != 5*time.Minute || w.MaxHealing != 1 {
		t.Errorf("defaults = %+v, want OpsWorks' 1m, 5m and one at a time", w)
	}
	if ly := s.Layer("web"); ly.AutoHealing != "" || ly.HealthCheck != nil || ly.RDS != nil {
		t.Errorf("layer without watch settings = %+v", ly)
	}
}
