package stack

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Healing modes of a layer's auto_healing: what the watcher does to an
// instance that stayed unhealthy for unhealthy_after.
const (
	// HealAuto is auto_healing = true: HealRestart for an EC2 instance,
	// HealSetup for a static host.
	HealAuto = "auto"
	// HealRestart stops and starts an EC2 instance (a static host, which
	// opsrun cannot power-cycle, gets HealSetup), then sets it up again.
	HealRestart = "restart"
	// HealReplace terminates an EC2 instance and launches a like one (same
	// AMI, type, subnet, security groups, key and tags); a static host gets
	// HealSetup.
	HealReplace = "replace"
	// HealSetup runs setup and the apps' deploy on the instance again,
	// then configure on the whole stack.
	HealSetup = "setup"
	// HealAlert changes nothing: the watcher logs the instance and records
	// it in the run history.
	HealAlert = "alert"
)

// HealModes are the values auto_healing takes besides true and false.
var HealModes = []string{HealRestart, HealReplace, HealSetup, HealAlert}

// Watch are the stack block's watch settings: how `opsrun watch` judges
// and heals the stack's instances.
type Watch struct {
	// Interval is the time between two rounds of health checks and
	// metrics (default 60s).
	Interval time.Duration
	// UnhealthyAfter is how long an instance must fail every round before
	// it is unhealthy and healed (default 5m, as OpsWorks).
	UnhealthyAfter time.Duration
	// MaxHealing is how many instances are healed at once (default 1).
	MaxHealing int
	DeclRange  hcl.Range
}

// Watch defaults, as OpsWorks: a check a minute, five missed in a row.
const (
	DefaultWatchInterval       = 60 * time.Second
	DefaultWatchUnhealthyAfter = 5 * time.Minute
	DefaultWatchMaxHealing     = 1
)

// RDS attaches an Amazon RDS DB instance to a layer, which then has no
// SSH instances of its own: the DB instance's endpoint, port and engine
// are what layer.NAME.instances holds, for configure recipes.
type RDS struct {
	Identifier string // DBInstanceIdentifier
	Region     string // "" for the SDK's default resolution
	Profile    string // shared config profile, "" for the default chain
	DeclRange  hcl.Range
}

var watchSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "interval"}, {Name: "unhealthy_after"}, {Name: "max_healing"},
}}

var rdsSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "identifier", Required: true}, {Name: "region"}, {Name: "profile"},
}}

// targetGroupARN is the shape of an ELBv2 target group ARN.
var targetGroupARN = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]+$`)

// rdsIdentifier is what RDS accepts as a DB instance identifier.
var rdsIdentifier = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,62}$`)

func defaultWatch() Watch {
	return Watch{Interval: DefaultWatchInterval, UnhealthyAfter: DefaultWatchUnhealthyAfter, MaxHealing: DefaultWatchMaxHealing}
}

// decodeWatch reads the stack block's watch block.
func (l *loader) decodeWatch(b *hcl.Block) {
	w := defaultWatch()
	w.DeclRange = b.DefRange
	content, ds := b.Body.Content(watchSchema)
	l.add(ds...)
	attrs := content.Attributes
	if a, ok := attrs["interval"]; ok {
		w.Interval = l.appDuration(a, w.Interval, false)
	}
	if a, ok := attrs["unhealthy_after"]; ok {
		w.UnhealthyAfter = l.appDuration(a, w.UnhealthyAfter, false)
	}
	if a, ok := attrs["max_healing"]; ok {
		if n, ok := l.appInt(a, 0, 10000); ok {
			w.MaxHealing = n
		}
	}
	if w.UnhealthyAfter < w.Interval {
		rng := b.DefRange
		if a, ok := attrs["unhealthy_after"]; ok {
			rng = a.Expr.Range()
		}
		l.add(errAt(rng, "Invalid unhealthy_after",
			fmt.Sprintf("unhealthy_after (%s) is shorter than interval (%s): an instance is judged once per interval, so it would be healed on its first failed check. Make unhealthy_after at least the interval (OpsWorks: 5m with a 1m interval).", w.UnhealthyAfter, w.Interval)))
	}
	l.s.Settings.Watch = w
}

// decodeLayerWatch reads a layer's auto_healing, health_check,
// target_groups and rds.
func (l *loader) decodeLayerWatch(ly *Layer, content *hcl.BodyContent) {
	if a, ok := content.Attributes["auto_healing"]; ok && l.appRefs(a) {
		ly.AutoHealing = l.healMode(a)
	}
	var checks, rdss []*hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "health_check":
			checks = append(checks, b)
		case "rds":
			rdss = append(rdss, b)
		}
	}
	for i, b := range checks {
		if i > 0 {
			l.add(errAt(b.DefRange, "Duplicate health_check block",
				fmt.Sprintf("Layer %q already has a health_check block at %s; a layer has one.", ly.Name, l.s.at(checks[0].DefRange))))
			continue
		}
		ly.HealthCheck = l.appHealthCheck(b)
	}
	if a, ok := content.Attributes["target_groups"]; ok {
		arns, rngs, ok := l.appStrings(a)
		if ok {
			for i, arn := range arns {
				if !targetGroupARN.MatchString(arn) {
					l.add(errAt(rngs[i], "Invalid target group",
						fmt.Sprintf("%q is not an ELBv2 target group ARN, which looks like arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID (aws elbv2 describe-target-groups lists them).", arn)))
					continue
				}
				if !slices.Contains(ly.TargetGroups, arn) {
					ly.TargetGroups = append(ly.TargetGroups, arn)
				}
			}
		}
	}
	for i, b := range rdss {
		if i > 0 {
			l.add(errAt(b.DefRange, "Duplicate rds block",
				fmt.Sprintf("Layer %q already has an rds block at %s; a layer stands for one DB instance.", ly.Name, l.s.at(rdss[0].DefRange))))
			continue
		}
		ly.RDS = l.decodeRDS(ly, b)
	}
	if ly.RDS != nil {
		// The layer's instance is the DB instance, which has no SSH: there
		// is nothing to run recipes on, heal or put behind a load balancer.
		for _, what := range []struct {
			set  bool
			name string
		}{
			{len(content.Blocks) > len(rdss)+len(checks) || len(ly.Events) > 0, "on blocks"},
			{ly.Use != "", "use"},
			{ly.AutoHealing != "", "auto_healing"},
			{ly.HealthCheck != nil, "a health_check"},
			{len(ly.TargetGroups) > 0, "target_groups"},
		} {
			if what.set {
				l.add(errAt(ly.RDS.DeclRange, "RDS layer with recipes",
					fmt.Sprintf("Layer %q is an RDS DB instance, reached without SSH, so it cannot have %s; put those on the layers of the instances that use the database.", ly.Name, what.name)))
				break
			}
		}
	}
}

// healMode reads auto_healing: a bool, or one of HealModes.
func (l *loader) healMode(a *hcl.Attribute) string {
	v, ds := a.Expr.Value(l.loadContext())
	l.add(ds...)
	if ds.HasErrors() {
		return ""
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsWhollyKnown() {
		return ""
	}
	switch v.Type() {
	case cty.Bool:
		if v.True() {
			return HealAuto
		}
		return ""
	case cty.String:
		if m := v.AsString(); slices.Contains(HealModes, m) {
			return m
		}
	}
	l.add(errAt(a.Expr.Range(), "Invalid auto_healing",
		fmt.Sprintf("auto_healing is %s; it takes true, false, or one of %s.%s", shownValue(v), list(quoteAll(HealModes)), didYouMeanValue(v, HealModes))))
	return ""
}

func didYouMeanValue(v cty.Value, options []string) string {
	if v.Type() != cty.String {
		return ""
	}
	return didYouMean(v.AsString(), options)
}

func (l *loader) decodeRDS(ly *Layer, b *hcl.Block) *RDS {
	r := &RDS{DeclRange: b.DefRange}
	content, ds := b.Body.Content(rdsSchema)
	l.add(ds...)
	if ds.HasErrors() {
		return r
	}
	if a := content.Attributes["identifier"]; a != nil {
		if s, ok := l.appString(a); ok {
			if !rdsIdentifier.MatchString(s) {
				l.add(errAt(a.Expr.Range(), "Invalid RDS identifier",
					fmt.Sprintf("%q is not a DB instance identifier: a letter, then letters, digits and hyphens, at most 63 (aws rds describe-db-instances lists them).", s)))
			}
			r.Identifier = s
		}
	}
	if a := content.Attributes["region"]; a != nil {
		r.Region, _ = l.appString(a)
	}
	if a := content.Attributes["profile"]; a != nil {
		r.Profile, _ = l.appString(a)
	}
	return r
}
