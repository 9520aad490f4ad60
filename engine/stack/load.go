package stack

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/funcs"
	"github.com/opsrun/opsrun/inventory"
	ec2inv "github.com/opsrun/opsrun/inventory/ec2"
	"github.com/opsrun/opsrun/modules"
)

// Inputs are what the command line adds to a stack's files.
type Inputs struct {
	// Vars are -var options, "name=value", in command-line order.
	Vars []string
	// VarFiles are -var-file paths (HCL "name = value" files), in order.
	// They are read from the OS file system, relative to the working
	// directory, not from the stack's fs.FS.
	VarFiles []string
	// Env is the environment in os.Environ form (nil: none);
	// OPSRUN_VAR_name entries set variable name.
	Env []string
	// Builtins are the built-in layers `use` may name; nil means none.
	Builtins Builtins
}

// Builtins is the set of built-in layers (playbooks/). A built-in layer's
// resources run before the stack layer's own in each event, and its
// settings are defaults the stack layer's settings override key by key.
type Builtins interface {
	// Names lists the built-in layers, sorted, for diagnostics.
	Names() []string
	// Layer returns the named built-in layer, already loaded.
	Layer(name string) (*Layer, bool)
}

// varEnvPrefix introduces a variable in the environment: OPSRUN_VAR_name.
const varEnvPrefix = "OPSRUN_VAR_"

// topSchema is a stack file's top level; host and defaults are the static
// inventory's own blocks, decoded by inventory.Decode.
var topSchema = &hcl.BodySchema{
	Blocks: append([]hcl.BlockHeaderSchema{
		{Type: "stack", LabelNames: []string{"name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "recipe", LabelNames: []string{"name"}},
		{Type: "layer", LabelNames: []string{"name"}},
		{Type: "app", LabelNames: []string{"name"}},
		{Type: ec2inv.BlockType, LabelNames: []string{"kind"}},
	}, inventory.BodySchema.Blocks...),
}

// LoadDir loads the stack in directory dir; see Load.
func LoadDir(dir string, in Inputs, reg modules.Registry) (*Stack, hcl.Diagnostics) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return Load(os.DirFS(abs), abs, in, reg)
}

// Load reads every *.hcl file at the root of fsys (files starting with "."
// or "#", editors' leftovers, are skipped), decodes the stack and checks
// everything that can be checked without a host. dir is the absolute path
// fsys stands for: diagnostics name files under it, and file() and
// templatefile() resolve relative paths against it.
//
// The returned stack is never nil, so Files can print the diagnostics even
// when loading failed; it must not be run when diags has errors. All errors
// are reported together, sorted by file and position.
func Load(fsys fs.FS, dir string, in Inputs, reg modules.Registry) (*Stack, hcl.Diagnostics) {
	l := &loader{
		in:     in,
		reg:    reg,
		parser: hclparse.NewParser(),
		s: &Stack{
			Name:      filepath.Base(dir),
			Dir:       dir,
			Settings:  Settings{Forks: 100, Become: true, Watch: defaultWatch()},
			Variables: map[string]*Variable{},
			Vars:      cty.EmptyObjectVal,
			Locals:    cty.EmptyObjectVal,
			Inventory: &inventory.Inventory{},
			Recipes:   map[string]*Recipe{},
			reg:       reg,
			funcs:     funcs.Functions(dir),
		},
		recipes: map[string]*recipeDecl{},
	}
	if l.reg == nil {
		l.reg = emptyRegistry{}
		l.s.reg = l.reg
	}
	l.load(fsys)
	l.s.Files = l.parser.Files()
	return l.s, sortDiags(l.diags)
}

// loader carries one Load's state; its diags accumulate every problem.
type loader struct {
	in      Inputs
	reg     modules.Registry
	parser  *hclparse.Parser
	s       *Stack
	diags   hcl.Diagnostics
	recipes map[string]*recipeDecl
	// localNames are the declared locals, known before any is evaluated.
	localNames map[string]bool
}

func (l *loader) add(ds ...*hcl.Diagnostic) { l.diags = append(l.diags, ds...) }

func (l *loader) load(fsys fs.FS) {
	files := l.parseFiles(fsys)
	if l.diags.HasErrors() {
		// A syntax error leaves a partial body; decoding it would bury the
		// one real mistake under errors that follow from it.
		return
	}
	var blocks struct {
		stack, variables, locals, recipes, layers, apps, inventories []*hcl.Block
	}
	for _, f := range files {
		content, ds := f.Body.Content(topSchema)
		l.add(ds...)
		var inv hcl.Blocks
		for _, b := range content.Blocks {
			switch b.Type {
			case "stack":
				blocks.stack = append(blocks.stack, b)
			case "variable":
				blocks.variables = append(blocks.variables, b)
			case "locals":
				blocks.locals = append(blocks.locals, b)
			case "recipe":
				blocks.recipes = append(blocks.recipes, b)
			case "layer":
				blocks.layers = append(blocks.layers, b)
			case "app":
				blocks.apps = append(blocks.apps, b)
			case ec2inv.BlockType:
				blocks.inventories = append(blocks.inventories, b)
			default: // host, defaults
				inv = append(inv, b)
			}
		}
		if len(inv) > 0 {
			// Each file is its own inventory file: its defaults block
			// applies to the hosts of that file, as with -i files.
			part, ds := inventory.Decode(blocksBody{blocks: inv, rng: f.Body.MissingItemRange()}, l.s.Dir)
			l.add(ds...)
			l.add(l.s.Inventory.Add(part.Hosts...)...)
		}
	}
	l.decodeStackBlocks(blocks.stack)
	l.s.ApplySSHDefaults(l.s.Inventory.Hosts)
	l.decodeVariables(blocks.variables)
	l.decodeLocals(blocks.locals)
	// Dynamic inventories may use var and local, so they come after them.
	l.decodeInventories(blocks.inventories)
	l.decodeRecipes(blocks.recipes)
	l.decodeLayers(blocks.layers)
	// Apps name layers, so they come after them.
	l.decodeApps(blocks.apps)
	l.checkHostLayers()
}

// parseFiles parses the stack's *.hcl files in name order.
func (l *loader) parseFiles(fsys fs.FS) []*hcl.File {
	dirRange := &hcl.Range{Filename: l.s.Dir, Start: hcl.InitialPos, End: hcl.InitialPos}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read stack directory",
			Detail:   fmt.Sprintf("Reading %s failed: %v.", l.s.Dir, err),
			Subject:  dirRange,
		})
		return nil
	}
	var files []*hcl.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".hcl") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
			continue
		}
		path := filepath.Join(l.s.Dir, name)
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read stack file",
				Detail:   fmt.Sprintf("Reading %s failed: %v.", path, err),
				Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
			})
			continue
		}
		f, ds := l.parser.ParseHCL(src, path)
		l.add(ds...)
		if f != nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 && !l.diags.HasErrors() {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No stack files",
			Detail:   fmt.Sprintf("The directory %s has no *.hcl files; a stack is a directory of them.", l.s.Dir),
			Subject:  dirRange,
		})
	}
	return files
}

var stackSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "os"}, {Name: "forks"}, {Name: "become"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "ssh"}, {Type: "watch"}},
}

// sshDropped are the inventory host attributes that make no sense as
// stack-wide SSH defaults.
var sshDropped = map[string]bool{"address": true, "layers": true, "vars": true}

func (l *loader) decodeStackBlocks(blocks []*hcl.Block) {
	for i, b := range blocks {
		if i > 0 {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate stack block",
				Detail:   fmt.Sprintf("A stack has one stack block; the first is at %s.", l.s.at(blocks[0].DefRange)),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		l.s.Name = b.Labels[0]
		l.s.Settings.DeclRange = b.DefRange
		content, ds := b.Body.Content(stackSchema)
		l.add(ds...)
		if a, ok := content.Attributes["os"]; ok {
			if v, ok := l.evalAttr(a, nil, cty.String); ok {
				l.s.Settings.OS = v.AsString()
			}
		}
		if a, ok := content.Attributes["forks"]; ok {
			if n, ok := l.evalInt(a, nil, 1, 1<<20); ok {
				l.s.Settings.Forks = n
			}
		}
		if a, ok := content.Attributes["become"]; ok {
			if v, ok := l.evalAttr(a, nil, cty.Bool); ok {
				l.s.Settings.Become = v.True()
			}
		}
		first := map[string]*hcl.Block{}
		for _, sb := range content.Blocks {
			if prev := first[sb.Type]; prev != nil {
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate " + sb.Type + " block",
					Detail:   fmt.Sprintf("The stack block takes one %s block; the first is at %s.", sb.Type, l.s.at(prev.DefRange)),
					Subject:  sb.DefRange.Ptr(),
				})
				continue
			}
			first[sb.Type] = sb
			switch sb.Type {
			case "ssh":
				l.decodeSSH(sb)
			case "watch":
				l.decodeWatch(sb)
			}
		}
	}
}

// decodeSSH reads the ssh block with the inventory's own decoder, as a
// host named "ssh" whose body hides the attributes that only a real host
// has, so both accept and check exactly the same settings.
func (l *loader) decodeSSH(b *hcl.Block) {
	host := &hcl.Block{
		Type:        "host",
		Labels:      []string{"ssh"},
		Body:        hidingBody{Body: b.Body, hide: sshDropped},
		DefRange:    b.DefRange,
		TypeRange:   b.TypeRange,
		LabelRanges: []hcl.Range{b.DefRange},
	}
	inv, ds := inventory.Decode(blocksBody{blocks: hcl.Blocks{host}, rng: b.DefRange}, l.s.Dir)
	l.add(ds...)
	if len(inv.Hosts) == 1 {
		h := inv.Hosts[0]
		h.Name = ""
		l.s.SSHDefaults = h
	}
}

// ApplySSHDefaults fills, in each host, the connection settings it leaves
// unset from the stack's ssh block: a host's own settings (and its
// inventory file's defaults) win.
func (s *Stack) ApplySSHDefaults(hosts []*inventory.Host) {
	if s.SSHDefaults == nil {
		return
	}
	for _, h := range hosts {
		inventory.ApplyDefaults(h, s.SSHDefaults)
	}
}

// checkHostLayers warns about inline hosts in layers the stack does not
// declare: legal (a layer can be a mere group for host patterns), but most
// often a typo.
func (l *loader) checkHostLayers() {
	declared := map[string]bool{}
	var names []string
	for _, ly := range l.s.Layers {
		declared[ly.Name] = true
		names = append(names, ly.Name)
	}
	for _, h := range l.s.Inventory.Hosts {
		for _, name := range h.Layers {
			if declared[name] {
				continue
			}
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Host in an undeclared layer",
				Detail:   fmt.Sprintf("Host %q is in layer %q, which the stack does not declare, so no recipes run for it there.%s", h.Name, name, didYouMean(name, names)),
				Subject:  h.DeclRange.Ptr(),
			})
		}
	}
}

// blocksBody is an hcl.Body holding just some blocks already taken out of
// a file, so inventory.Decode can read a stack file's host and defaults
// blocks as if they were an inventory file of their own.
type blocksBody struct {
	blocks hcl.Blocks
	rng    hcl.Range
}

func (b blocksBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, _, ds := b.PartialContent(schema)
	return c, ds
}

func (b blocksBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	want := map[string]bool{}
	for _, bs := range schema.Blocks {
		want[bs.Type] = true
	}
	c := &hcl.BodyContent{Attributes: hcl.Attributes{}, MissingItemRange: b.rng}
	rest := blocksBody{rng: b.rng}
	for _, blk := range b.blocks {
		if want[blk.Type] {
			c.Blocks = append(c.Blocks, blk)
		} else {
			rest.blocks = append(rest.blocks, blk)
		}
	}
	return c, rest, nil
}

func (b blocksBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) { return hcl.Attributes{}, nil }

func (b blocksBody) MissingItemRange() hcl.Range { return b.rng }

// hidingBody removes some attribute names from every schema asked of the
// body it wraps, so that setting one is "Unsupported argument".
type hidingBody struct {
	hcl.Body
	hide map[string]bool
}

func (h hidingBody) filter(schema *hcl.BodySchema) *hcl.BodySchema {
	out := &hcl.BodySchema{Blocks: schema.Blocks}
	for _, a := range schema.Attributes {
		if !h.hide[a.Name] {
			out.Attributes = append(out.Attributes, a)
		}
	}
	return out
}

func (h hidingBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	return h.Body.Content(h.filter(schema))
}

func (h hidingBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	return h.Body.PartialContent(h.filter(schema))
}

// emptyRegistry stands in when Load is given no registry: every resource
// type is then unknown.
type emptyRegistry struct{}

func (emptyRegistry) Lookup(string) (*modules.Type, bool) { return nil, false }
func (emptyRegistry) Names() []string                     { return nil }

// decodeInventories reads the dynamic inventory blocks; their hosts are
// resolved only when a command needs them (run.DynamicHosts), so loading
// and validating a stack never calls a cloud API.
func (l *loader) decodeInventories(blocks []*hcl.Block) {
	ectx := l.s.EvalContext(cty.DynamicVal, cty.DynamicVal)
	for _, b := range blocks {
		if b.Labels[0] != ec2inv.BlockLabel {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported inventory kind",
				Detail:   fmt.Sprintf("inventory %q is not a kind opsrun knows; the dynamic inventory is inventory %q (static hosts are host blocks).%s", b.Labels[0], ec2inv.BlockLabel, didYouMean(b.Labels[0], []string{ec2inv.BlockLabel})),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		cfg, ds := ec2inv.Decode(b, ectx, l.s.Dir)
		l.add(ds...)
		if !ds.HasErrors() {
			l.s.EC2Inventories = append(l.s.EC2Inventories, cfg)
		}
	}
}
