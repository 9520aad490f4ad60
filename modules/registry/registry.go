// Package registry lists the resource types built into opsrun.
package registry

import (
	"slices"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/archive"
	"github.com/opsrun/opsrun/modules/blockinfile"
	"github.com/opsrun/opsrun/modules/command"
	"github.com/opsrun/opsrun/modules/cron"
	"github.com/opsrun/opsrun/modules/directory"
	"github.com/opsrun/opsrun/modules/file"
	"github.com/opsrun/opsrun/modules/git"
	"github.com/opsrun/opsrun/modules/group"
	"github.com/opsrun/opsrun/modules/line"
	"github.com/opsrun/opsrun/modules/link"
	"github.com/opsrun/opsrun/modules/packages"
	"github.com/opsrun/opsrun/modules/remotefile"
	"github.com/opsrun/opsrun/modules/script"
	"github.com/opsrun/opsrun/modules/service"
	"github.com/opsrun/opsrun/modules/sysctl"
	"github.com/opsrun/opsrun/modules/template"
	"github.com/opsrun/opsrun/modules/user"
)

// Builtin returns a registry of every built-in resource type. Each call
// builds a fresh one, so callers may not affect each other.
func Builtin() modules.Registry {
	r := registry{}
	for _, t := range []*modules.Type{
		archive.Type(),
		blockinfile.Type(),
		command.Type(),
		cron.Type(),
		directory.Type(),
		file.Type(),
		git.Type(),
		group.Type(),
		line.Type(),
		link.Type(),
		packages.Type(),
		remotefile.Type(),
		script.Type(),
		service.Type(),
		sysctl.Type(),
		template.Type(),
		user.Type(),
	} {
		r[t.Name] = t
	}
	return r
}

// registry maps type names to types.
type registry map[string]*modules.Type

// Lookup finds a type by name.
func (r registry) Lookup(name string) (*modules.Type, bool) {
	t, ok := r[name]
	return t, ok
}

// Names lists the type names, sorted.
func (r registry) Names() []string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
