// Package playbooks holds opsrun's built-in layers — HAProxy, nginx, the
// app servers, databases, caches, workers, monitoring — as HCL embedded in
// the binary. A stack uses one with `use = "NAME"` in a layer block; the
// built-in's recipes run first in each event, and the stack layer's
// settings override the built-in's defaults key by key.
//
// Each layer is a directory under layers/: layer.hcl declares the layer
// exactly as a stack would (`layer "NAME" { settings = {...} on "setup"
// {...} }`), reading its settings as self.settings and the stack's
// topology as layer.* and app.*, never var.* or local.*, which belong to
// the stack that uses it. doc.hcl documents it: a summary, what each
// event does, each setting, and how to extend it. Templates are inline
// heredocs, so a built-in layer needs no file beside the stack.
//
// recipes/*.hcl hold recipes every built-in layer may include (`include
// "app_stop" {}`): what several layers do alike — stop, remove or restart
// an app's systemd unit — is written once. They are loaded with each
// layer, so they too read self and are checked with every layer.
package playbooks

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/modules"
)

//go:embed layers recipes
var files embed.FS

// Set is the built-in layers, loaded and checked. It satisfies
// stack.Builtins.
type Set struct {
	layers map[string]*stack.Layer
	docs   map[string]*Doc
}

// Load loads and validates every built-in layer against reg's resource
// types. Its diagnostics name the embedded files (playbooks/layers/...):
// an error there is opsrun's bug, caught by this package's tests.
func Load(reg modules.Registry) (*Set, hcl.Diagnostics) {
	return load(files, reg)
}

func load(fsys fs.FS, reg modules.Registry) (*Set, hcl.Diagnostics) {
	set := &Set{layers: map[string]*stack.Layer{}, docs: map[string]*Doc{}}
	dirs, err := fs.ReadDir(fsys, "layers")
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Built-in layers unreadable", Detail: err.Error()}}
	}
	shared, err := sharedRecipes(fsys)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Built-in recipes unreadable", Detail: err.Error()}}
	}
	var diags hcl.Diagnostics
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := d.Name()
		dir := path.Join("layers", name)
		sub, err := fs.Sub(fsys, dir)
		if err != nil {
			return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Built-in layer unreadable", Detail: err.Error()})
		}
		ly, ds := loadLayer(sub, "playbooks/"+dir, name, shared, reg)
		diags = append(diags, ds...)
		doc, ds := loadDoc(sub, "playbooks/"+dir, name, ly)
		diags = append(diags, ds...)
		if ly != nil && doc != nil {
			set.layers[name], set.docs[name] = ly, doc
		}
	}
	return set, diags
}

// loadLayer loads layer.hcl as a stack of one layer, with the shared
// recipes beside it, and validates it: the same checks a stack's own
// layers get.
func loadLayer(fsys fs.FS, dir, name string, shared map[string][]byte, reg modules.Registry) (*stack.Layer, hcl.Diagnostics) {
	src, err := fs.ReadFile(fsys, "layer.hcl")
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Built-in layer unreadable", Detail: fmt.Sprintf("%s/layer.hcl: %v", dir, err)}}
	}
	files := fstest.MapFS{"layer.hcl": {Data: src}}
	for n, b := range shared {
		files[n] = &fstest.MapFile{Data: b}
	}
	s, diags := stack.Load(files, dir, stack.Inputs{}, reg)
	if diags.HasErrors() {
		return nil, diags
	}
	diags = append(diags, s.Validate()...)
	ly := s.Layer(name)
	if ly == nil || len(s.Layers) != 1 {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Built-in layer misnamed",
			Detail: fmt.Sprintf("%s/layer.hcl must declare exactly one layer, named %q.", dir, name)})
	}
	if len(s.Variables) > 0 || len(s.Apps) > 0 || len(s.Inventory.Hosts) > 0 {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Built-in layer declares stack blocks",
			Detail: fmt.Sprintf("%s/layer.hcl may declare its layer and recipes only: variables, apps and hosts belong to the stack that uses it.", dir)})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return ly, diags
}

// sharedRecipes reads recipes/*.hcl: recipes every built-in layer may
// include, so that what several layers do alike (run an app as a systemd
// unit, say) is written once. Their files are named shared_*.hcl beside
// each layer's, which diagnostics show.
func sharedRecipes(fsys fs.FS) (map[string][]byte, error) {
	entries, err := fs.ReadDir(fsys, "recipes")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".hcl" {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join("recipes", e.Name()))
		if err != nil {
			return nil, err
		}
		out["shared_"+e.Name()] = b
	}
	return out, nil
}

// Names lists the built-in layers, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.layers))
	for n := range s.layers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Layer returns the named built-in layer. Callers must not modify it: the
// stack loader copies what it takes.
func (s *Set) Layer(name string) (*stack.Layer, bool) {
	l, ok := s.layers[name]
	return l, ok
}

// Doc returns the named layer's documentation.
func (s *Set) Doc(name string) (*Doc, bool) {
	d, ok := s.docs[name]
	return d, ok
}
