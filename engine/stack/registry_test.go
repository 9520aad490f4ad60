package stack

import (
	"sort"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
)

// fakeRegistry has a few resource types with a few arguments each: enough
// to exercise schema checks without depending on the real modules.
type fakeRegistry map[string]*modules.Type

func (r fakeRegistry) Lookup(name string) (*modules.Type, bool) {
	t, ok := r[name]
	return t, ok
}

func (r fakeRegistry) Names() []string {
	var names []string
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func testRegistry() modules.Registry {
	str := func(name string, required bool) modules.Attr {
		return modules.Attr{Name: name, Type: cty.String, Required: required}
	}
	return fakeRegistry{
		"file": {Name: "file", Attrs: []modules.Attr{
			{Name: "path", Type: cty.String, Required: true, Doc: "The absolute path of the file."},
			str("content", false), str("source", false), str("mode", false), str("owner", false),
		}},
		"package": {Name: "package", Attrs: []modules.Attr{
			// A name or a list of names.
			{Name: "name", Type: cty.DynamicPseudoType, Required: true},
			str("state", false),
		}},
		"service": {Name: "service", Notifiable: true, Attrs: []modules.Attr{
			str("name", true),
			{Name: "enabled", Type: cty.Bool},
			str("state", false),
		}},
		"command": {Name: "command", Notifiable: true, Attrs: []modules.Attr{
			str("command", true), str("creates", false),
		}},
		"directory": {Name: "directory", Attrs: []modules.Attr{
			str("path", true), str("mode", false), str("owner", false),
		}},
	}
}
