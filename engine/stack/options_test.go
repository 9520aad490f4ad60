package stack

import (
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

func TestEvalOptions(t *testing.T) {
	s := mustLoad(t, Inputs{}, map[string]string{"main.hcl": `
variable "attempts" {
  default = 3
}

layer "web" {
  on "setup" {
    command "defaults" {
      command = "true"
    }
    command "set" {
      command       = "true"
      retries       = var.attempts
      retry_delay   = "1m30s"
      timeout       = 2.5
      ignore_errors = true
      sensitive     = host.os.family == "debian"
      notify_now    = [command.defaults]
    }
    command "unknown" {
      command     = "true"
      retries     = host.cpus
      ignore_errors = null
    }
  }
}
`})
	rs := s.Layers[0].Events["setup"]
	host := cty.ObjectVal(map[string]cty.Value{"os": cty.ObjectVal(map[string]cty.Value{"family": cty.StringVal("debian")}), "cpus": cty.UnknownVal(cty.Number)})
	ctx := s.EvalContext(host, cty.EmptyObjectVal)
	for i, want := range []Options{
		{RetryDelay: DefaultRetryDelay},
		{Retries: 3, RetryDelay: 90 * time.Second, Timeout: 2500 * time.Millisecond, IgnoreErrors: true, Sensitive: true},
		{RetryDelay: DefaultRetryDelay}, // unknown and null keep the defaults
	} {
		got, diags := rs[i].EvalOptions(ctx)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", rs[i].Addr, diags)
		}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", rs[i].Addr, got, want)
		}
	}
	if got := rs[1].NotifyNow; len(got) != 1 || got[0] != "command.defaults" {
		t.Errorf("notify_now = %v", got)
	}
}
