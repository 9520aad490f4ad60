// Package modules is the contract between resource types and the engine.
//
// A resource type is pure: from a host's facts and the resource's desired
// state it returns the actions that converge the host, or none when the host
// is already right. It never touches a connection. The engine gathers the
// probes of many resources in one round trip, hands each resource its
// results, and alone runs the actions — so check mode and plan print exactly
// the actions a real run would execute.
package modules

import (
	"errors"
	"io/fs"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Host is what a module may know about the host it plans for, gathered once
// per run (engine/facts).
type Host struct {
	Name     string // inventory name
	OSID     string // /etc/os-release ID: debian, ubuntu, rocky, alpine...
	OSFamily string // debian, rhel, alpine, suse, arch, unknown
	Version  string // VERSION_ID
	Arch     string // uname -m
	Init     string // systemd, openrc, sysvinit, unknown
	PkgMgr   string // apt, dnf, yum, apk, zypper, unknown
	// RunID identifies the run, so a module can do a thing at most once per
	// run on a host (refresh the package index) with a marker under /run.
	RunID string
}

// Probe is one fact a resource needs: a shell command whose stdout and exit
// status are recorded. Probes with the same ID run once per host per round.
type Probe struct {
	ID      string // stable key, e.g. "stat:/etc/nginx/nginx.conf"
	Command string // POSIX sh
	// Sensitive is set when Command embeds a value from a sensitive
	// variable (a command resource's guard): never log or print Command.
	Sensitive bool
	// Batch, when set, lets the engine answer this probe together with
	// the other probes of its batch in one process instead of running
	// Command: on the host a round trip costs mostly a fork and an exec
	// per probe. The answer must be the one Command gives.
	Batch *Batch
}

// Batch is a probe's part in a command that answers many probes at once
// (one stat for every path of a recipe).
type Batch struct {
	// Key names the batch: probes with the same Key run together.
	Key string
	// Script is POSIX sh, run once with every member's Arg in "$@", in
	// the members' order.
	Script string
	// Arg is this probe's argument.
	Arg string
	// Split turns the script's output into each member's result, in the
	// order of args; an error means the output cannot be trusted.
	Split func(stdout string, args []string) ([]ProbeResult, error)
}

// ProbeResult is what a probe printed and how it exited.
type ProbeResult struct {
	Stdout     string
	ExitStatus int
}

// Facts are probe results by probe ID.
type Facts map[string]ProbeResult

// Action is one step that changes a host. Every change a run makes is an
// Action; plan and check mode print them instead of running them.
type Action struct {
	// Summary is one line for people: "install nginx", "create /srv/app".
	Summary string
	// Diff is a unified diff of file content, when the action writes a file
	// and the content is not sensitive.
	Diff string
	// Command, when not empty, runs through sh -c on the host.
	Command string
	// Upload, when not nil, is written atomically before Command runs.
	Upload *Upload
	// Sensitive is set when Command or the upload's content embeds a value
	// from a sensitive variable: plan, check mode and logs show Summary
	// only, never Command or content.
	Sensitive bool
	// Output asks the engine to keep the end of what Command printed in
	// the run's events: the command is the user's own (command, script),
	// so its output is what they want to see.
	Output bool
}

// Upload is file content to place on the host.
type Upload struct {
	Path    string
	Content []byte // the content, for rendered or inline files
	Source  string // or a local file streamed from the controller
	Mode    fs.FileMode
	Owner   string
	Group   string
}

// Attr is one attribute of a resource type: its name, type, default and
// documentation. The loader rejects attributes a type does not declare, and
// `opsrun doc` prints these.
type Attr struct {
	Name     string
	Type     cty.Type // cty.String, cty.Bool, cty.Number, cty.List(cty.String), ...
	Required bool
	Default  cty.Value // cty.NilVal when there is none
	Doc      string
	Example  string // an HCL value, e.g. `"0644"`
}

// Config is a resource's desired state for one host: every declared
// attribute, converted to its type, defaults applied, null when unset.
type Config struct {
	Name  string
	Attrs map[string]cty.Value
	// Dir is the stack's directory: relative local paths (a file's source)
	// are resolved against it.
	Dir string
	// Sensitive names the attributes whose value came from a sensitive
	// variable; their values must not appear in summaries or diffs.
	Sensitive map[string]bool
	// Eval is the scope the attributes were evaluated in (host facts,
	// layer topology, stack, var, local and the functions), for types
	// that evaluate more HCL on the controller, as a template does. Values
	// from sensitive variables are marked in it. Nil in fixture tests
	// that do not set it.
	Eval *hcl.EvalContext
}

// Resource is a resource instance configured for one host.
type Resource interface {
	// Probes lists the facts Plan needs.
	Probes(h *Host) []Probe
	// Plan returns the actions that bring the host to the desired state, or
	// none when it is already there.
	Plan(h *Host, f Facts) ([]Action, error)
}

// Notifiable is a resource that can be notified by another one's change
// (a service restarts, a command runs); notify handlers run its actions.
type Notifiable interface {
	Resource
	Notified(h *Host, f Facts) ([]Action, error)
}

// Type is a resource type.
type Type struct {
	Name  string
	Doc   string
	Attrs []Attr
	// Notifiable says the type's resources implement Notifiable, so the
	// loader can refuse `notify` aimed at a type that cannot act on it.
	Notifiable bool
	// New validates a host's config and builds the resource. Errors name the
	// attribute and say what is wrong; the engine adds file:line.
	New func(c Config) (Resource, error)
}

// AttrError is New's error for one bad attribute. The engine can point at
// the attribute's own file:line instead of the whole resource; New joins
// several with errors.Join, and errors.As finds each.
type AttrError struct {
	Attr string // attribute name, "path"
	Msg  string // what is wrong, `"runnning" is not one of started, stopped`
}

func (e *AttrError) Error() string { return e.Attr + ": " + e.Msg }

// ErrMissingOnHost marks a Plan error about something the resource needs
// that does not exist on the host (a service's unit file). In a real run
// that is a failure: earlier resources' changes were applied and re-probed
// first. In check mode they were not, so an earlier pending change (the
// package that ships the unit) may explain it; the engine can say so
// instead of reporting a plain failure.
var ErrMissingOnHost = errors.New("missing on host")

// Registry finds resource types by name.
type Registry interface {
	Lookup(name string) (*Type, bool)
	Names() []string
}

// MetaAttrs are the arguments every resource takes besides its type's own;
// the engine, not the type, acts on them. They are documented with the
// types' own attributes by `opsrun doc`.
func MetaAttrs() []Attr {
	refs := cty.List(cty.DynamicPseudoType)
	return []Attr{
		{Name: "depends_on", Type: refs, Example: `[package.nginx]`,
			Doc: "Resources of the same layer event that must run before this one, as references " +
				"(TYPE.NAME, no quotes). Resources otherwise run in the order written."},
		{Name: "notify", Type: refs, Example: `[service.nginx]`,
			Doc: "Resources to notify when this one changes something: each notified resource (a service " +
				"restarts, a command runs) acts once per host, at the end of the layer's event, however " +
				"many resources notified it, and not at all when none changed."},
		{Name: "notify_now", Type: refs, Example: `[service.nginx]`,
			Doc: "Like notify, but the notified resource acts at once, before the next resource runs (a " +
				"service that a later resource needs restarted). That settles the notifications it had " +
				"so far; a later change notifies it again."},
		{Name: "only_if", Type: cty.Bool, Example: `host.os.family == "debian"`,
			Doc: "Run the resource only when this condition over host facts, variables and topology is true."},
		{Name: "not_if", Type: cty.Bool, Example: `host.os.id == "alpine"`,
			Doc: "Skip the resource when this condition is true."},
		{Name: "retries", Type: cty.Number, Default: cty.NumberIntVal(0), Example: `3`,
			Doc: "How many more times to try when the resource fails (it is probed and planned again " +
				"first, since the failed try may have done part of its work); at most 100. Not in check mode."},
		{Name: "retry_delay", Type: cty.DynamicPseudoType, Default: cty.StringVal("5s"), Example: `"30s"`,
			Doc: "How long to wait between tries: a duration (\"30s\", \"2m\") or a number of seconds."},
		{Name: "timeout", Type: cty.DynamicPseudoType, Example: `"10m"`,
			Doc: "How long the resource's actions may run on the host (a duration or a number of seconds); " +
				"past it their commands are killed and the resource fails. Null: no limit."},
		{Name: "ignore_errors", Type: cty.Bool, Default: cty.False, Example: `true`,
			Doc: "Report a failure as ignored and let the host go on with the next resource, instead of " +
				"stopping the host. An unreachable host still stops."},
		{Name: "sensitive", Type: cty.Bool, Default: cty.False, Example: `true`,
			Doc: "Treat every value of the resource as a secret: no values, diffs or command output in " +
				"plan, check mode, logs or run history. Values from sensitive variables are always " +
				"treated so, without this."},
	}
}
