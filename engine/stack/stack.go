// Package stack owns the stack language: a directory of *.hcl files
// declaring the stack, its variables and locals, an inline inventory,
// layers with recipes per lifecycle event, named recipes, and apps
// deployed as releases to the instances of some layers. Load decodes
// and checks everything it can without a host; expressions that depend on
// the host stay hcl.Expression until the compiler evaluates them per host.
package stack

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/opsrun/opsrun/engine/funcs"
	"github.com/opsrun/opsrun/inventory"
	ec2inv "github.com/opsrun/opsrun/inventory/ec2"
	"github.com/opsrun/opsrun/modules"
)

// SensitiveMark is the cty mark on the values of sensitive variables and on
// everything computed from them; the compiler must not print such values.
const SensitiveMark = funcs.SensitiveMark

// Events are the lifecycle events, in the order of an instance's life.
var Events = []string{"setup", "configure", "deploy", "undeploy", "shutdown"}

// Stack is a loaded stack.
type Stack struct {
	Name     string
	Dir      string // absolute directory the files were read from
	Settings Settings

	Variables map[string]*Variable
	// Vars are the variables' final values (defaults, -var-file, -var,
	// OPSRUN_VAR_*), marked sensitive where the variable is.
	Vars cty.Value // object
	// Locals are evaluated once (they may use var.*, local.*, stack.*, not host.*).
	Locals cty.Value // object

	// Inventory holds the hosts declared in the stack's own files, with
	// SSHDefaults already applied. Never nil.
	Inventory *inventory.Inventory
	// SSHDefaults are the stack block's ssh settings (nil when it has no
	// ssh block); the CLI applies them to -i inventories with
	// ApplySSHDefaults, as Load did to the inline hosts.
	SSHDefaults *inventory.Host
	// EC2Inventories are the stack's inventory "ec2" blocks, decoded;
	// run.DynamicHosts resolves them into hosts when a command needs them.
	EC2Inventories []ec2inv.Config
	// External are the entries of layer.NAME.instances that are not
	// hosts, by layer name: an rds layer's DB instance, which
	// run.ResolveRDS fills in when a command needs it. They are topology
	// only: no run targets them and nothing connects to them.
	External map[string][]cty.Value

	Layers  []*Layer // in declaration order
	Recipes map[string]*Recipe
	Apps    []*App // in declaration order

	// Files are the parsed sources (stack files and -var-files), for
	// printing diagnostics; set even when loading failed.
	Files map[string]*hcl.File

	reg   modules.Registry
	funcs map[string]function.Function // Functions(Dir), shared read-only
}

// Settings are the stack block's stack-wide settings.
type Settings struct {
	OS     string // default OS family, informational ("debian")
	Forks  int    // hosts in flight at once (default 100)
	Become bool   // run recipes through sudo (default true)
	// Watch are the watch block's settings, defaults when there is none.
	Watch     Watch
	DeclRange hcl.Range
}

// Variable is a declared input variable.
type Variable struct {
	Name        string
	Type        cty.Type // cty.DynamicPseudoType when not constrained
	Default     cty.Value
	Description string
	Sensitive   bool
	Validations []*Validation
	DeclRange   hcl.Range

	// typeDefaults are the optional(…, default) values of Type's object
	// attributes, applied to every value given.
	typeDefaults *typeexpr.Defaults
}

// Validation is a variable's condition and the message shown when it fails.
type Validation struct {
	Condition    hcl.Expression
	ErrorMessage string
	DeclRange    hcl.Range
}

// Layer is a role instances play.
type Layer struct {
	Name string
	Use  string // built-in layer name, "" when none
	// DependsOn names layers whose event must finish first.
	DependsOn []string
	// Settings is the layer's settings object (evaluated at load; may use
	// var, local, stack).
	Settings cty.Value
	// MaxFailPercentage aborts the layer's event when more than this share
	// of its hosts failed; -1 (default) means never abort.
	MaxFailPercentage int
	// Events holds the resources each lifecycle event runs, in order:
	// included recipes expanded in place, built-in layer recipes first.
	Events map[string][]*Resource
	// AutoHealing is how `opsrun watch` heals the layer's unhealthy
	// instances: "" (never), HealAuto, or one of HealModes.
	AutoHealing string
	// HealthCheck is what the watcher asks of each instance besides an
	// SSH round trip; nil when the layer has none.
	HealthCheck *HealthCheck
	// TargetGroups are ELBv2 target group ARNs the layer's instances are
	// registered in: deploy and shutdown take an instance out (draining)
	// before touching it and put it back after its health check passes.
	TargetGroups []string
	// RDS, when set, makes the layer an RDS DB instance without SSH.
	RDS       *RDS
	DeclRange hcl.Range

	dependsOn []ref
}

// Recipe is a named, reusable list of resources.
type Recipe struct {
	Name      string
	Resources []*Resource
	DeclRange hcl.Range
}

// Resource is one declared resource, not yet evaluated for a host.
type Resource struct {
	Type string // "file", "package", ...
	Name string
	// Addr is TYPE.NAME, unique within a layer's event; depends_on and
	// notify refer to resources by it.
	Addr string
	// Attrs are the type's own attributes (names checked against its
	// schema at load), evaluated per host by the compiler.
	Attrs map[string]*hcl.Attribute
	// DependsOn, Notify and NotifyNow are addresses within the same
	// layer event. Notify is handled at the end of the event on the host,
	// NotifyNow right after the notifying resource changed.
	DependsOn []string
	Notify    []string
	NotifyNow []string
	// Options are the shared meta-arguments (retries, timeout...), as
	// written; EvalOptions evaluates them for a host.
	Options OptionExprs
	// OnlyIf and NotIf are conditions over host facts; nil when absent.
	OnlyIf, NotIf hcl.Expression
	// Recipe is the recipe it came from, "" when written in the on block.
	Recipe    string
	DeclRange hcl.Range

	// dependsOn and notify keep each reference's range for diagnostics.
	dependsOn, notify, notifyNow []ref
	// site is where the resource enters its layer event: the outermost
	// include block for included resources, else DeclRange.
	site hcl.Range
}

// ref is a reference to a resource or layer and where it was written.
type ref struct {
	name string
	rng  hcl.Range
}
