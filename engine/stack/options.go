package stack

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// OptionExprs are a resource's shared meta-arguments as written; nil
// when absent.
type OptionExprs struct {
	Retries, RetryDelay, Timeout, IgnoreErrors, Sensitive hcl.Expression
}

// Options are a resource's shared meta-arguments, evaluated for a host.
type Options struct {
	// Retries is how many more times a failed resource is tried (probed,
	// planned and run again), waiting RetryDelay in between.
	Retries    int
	RetryDelay time.Duration
	// Timeout bounds the resource's actions on the host; 0 is none.
	Timeout time.Duration
	// IgnoreErrors reports a failure but lets the host go on.
	IgnoreErrors bool
	// Sensitive treats every attribute as coming from a sensitive value:
	// no values, diffs or command output in any output or history.
	Sensitive bool
}

// DefaultRetryDelay is the wait between tries when retry_delay is unset.
const DefaultRetryDelay = 5 * time.Second

// maxRetries keeps a typo (retries = 1000000) from pinning a host forever.
const maxRetries = 100

// EvalOptions evaluates the meta-arguments in ctx. With unknown values (a
// fact during Validate) the argument keeps its default and no error is
// reported; the compiler evaluates again with the host's facts.
func (r *Resource) EvalOptions(ctx *hcl.EvalContext) (Options, hcl.Diagnostics) {
	o := Options{RetryDelay: DefaultRetryDelay}
	var diags hcl.Diagnostics
	bad := func(e hcl.Expression, name, want string) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + name,
			Detail:   fmt.Sprintf("%s of %s must be %s.", name, r.Addr, want),
			Subject:  e.Range().Ptr(),
		})
	}
	// value evaluates e as ty. ok is false when it has no usable value:
	// then report says whether that is the author's mistake (a known
	// value of the wrong type) rather than an unknown fact, a null or an
	// evaluation error already in diags.
	value := func(e hcl.Expression, ty cty.Type) (v cty.Value, ok, report bool) {
		v, ds := e.Value(ctx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			return cty.NilVal, false, false
		}
		v, _ = v.UnmarkDeep()
		if !v.IsWhollyKnown() || v.IsNull() {
			return cty.NilVal, false, false
		}
		cv, err := convert.Convert(v, ty)
		if err != nil {
			return cty.NilVal, false, true
		}
		return cv, true, false
	}
	flag := func(e hcl.Expression, name string, dst *bool) {
		if e == nil {
			return
		}
		if v, ok, report := value(e, cty.Bool); ok {
			*dst = v.True()
		} else if report {
			bad(e, name, "true or false")
		}
	}
	duration := func(e hcl.Expression, name string, dst *time.Duration) {
		if e == nil {
			return
		}
		v, ok, report := value(e, cty.DynamicPseudoType)
		if ok {
			if d, good := parseDuration(v); good {
				*dst = d
				return
			}
			report = true
		}
		if report {
			bad(e, name, `a duration like "30s" or "5m", or a number of seconds, not negative`)
		}
	}
	if e := r.Options.Retries; e != nil {
		v, ok, report := value(e, cty.Number)
		if ok {
			n, acc := v.AsBigFloat().Int64()
			if acc == big.Exact && n >= 0 && n <= maxRetries {
				o.Retries = int(n)
			} else {
				report = true
			}
		}
		if report {
			bad(e, "retries", fmt.Sprintf("a whole number from 0 to %d", maxRetries))
		}
	}
	duration(r.Options.RetryDelay, "retry_delay", &o.RetryDelay)
	duration(r.Options.Timeout, "timeout", &o.Timeout)
	flag(r.Options.IgnoreErrors, "ignore_errors", &o.IgnoreErrors)
	flag(r.Options.Sensitive, "sensitive", &o.Sensitive)
	return o, diags
}

// parseDuration reads "30s", "1m30s" or a number of seconds.
func parseDuration(v cty.Value) (time.Duration, bool) {
	switch v.Type() {
	case cty.String:
		d, err := time.ParseDuration(v.AsString())
		return d, err == nil && d >= 0
	case cty.Number:
		f, _ := v.AsBigFloat().Float64()
		if f < 0 || f > float64(1<<62)/float64(time.Second) {
			return 0, false
		}
		return time.Duration(f * float64(time.Second)), true
	}
	return 0, false
}
