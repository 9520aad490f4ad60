package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// Inventory is an ordered set of hosts with unique names.
type Inventory struct {
	Hosts []*Host
}

// Host returns the host named name, or nil.
func (inv *Inventory) Host(name string) *Host {
	for _, h := range inv.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Layers returns the sorted names of every layer some host plays.
func (inv *Inventory) Layers() []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range inv.Hosts {
		for _, l := range h.Layers {
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	sort.Strings(out)
	return out
}

// settingAttrs are the attributes both `defaults` and `host` blocks take.
var settingAttrs = []hcl.AttributeSchema{
	{Name: "user"},
	{Name: "port"},
	{Name: "identity_file"},
	{Name: "known_hosts"},
	{Name: "host_key_checking"},
	{Name: "proxy_jump"},
	{Name: "password"},
	{Name: "become_password"},
	{Name: "connect_timeout"},
	{Name: "vars"},
}

// BodySchema is the inventory's top level, exported so the stack loader can
// take the same blocks out of a stack file with PartialContent.
var BodySchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "defaults"},
		{Type: "host", LabelNames: []string{"name"}},
	},
}

var hostSchema = &hcl.BodySchema{
	Attributes: append([]hcl.AttributeSchema{
		{Name: "address"},
		{Name: "layers"},
	}, settingAttrs...),
}

var defaultsSchema = &hcl.BodySchema{Attributes: settingAttrs}

// EvalContext is what inventory expressions may use: env("NAME") so that
// secrets such as passwords need not be written into the file.
func EvalContext() *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: map[string]function.Function{
			"env": function.New(&function.Spec{
				Params: []function.Parameter{{Name: "name", Type: cty.String}},
				Type:   function.StaticReturnType(cty.String),
				Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
					return cty.StringVal(os.Getenv(args[0].AsString())), nil
				},
			}),
		},
	}
}

// LoadFiles parses and merges inventory files in order. Diagnostics from all
// files are returned together; a host name declared twice is an error naming
// both places. The parser keeps the sources for printing diagnostics.
func LoadFiles(parser *hclparse.Parser, paths ...string) (*Inventory, hcl.Diagnostics) {
	inv := &Inventory{}
	var diags hcl.Diagnostics
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read inventory file",
				Detail:   fmt.Sprintf("%s: %v.", p, unwrapPathError(err)),
			})
			continue
		}
		f, ds := parser.ParseHCL(src, p)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		abs, err := filepath.Abs(filepath.Dir(p))
		if err != nil {
			abs = filepath.Dir(p)
		}
		part, ds := Decode(f.Body, abs)
		diags = append(diags, ds...)
		diags = append(diags, inv.Add(part.Hosts...)...)
	}
	return inv, diags
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Add appends hosts, refusing names already present.
func (inv *Inventory) Add(hosts ...*Host) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, h := range hosts {
		if prev := inv.Host(h.Name); prev != nil {
			rng := h.DeclRange
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate host",
				Detail:   fmt.Sprintf("Host %q was already declared at %s; host names must be unique across all inventory files.", h.Name, prev.DeclRange),
				Subject:  &rng,
			})
			continue
		}
		inv.Hosts = append(inv.Hosts, h)
	}
	return diags
}

// Decode reads `defaults` and `host` blocks from body. Relative paths in it
// are resolved against dir. Every problem is reported, not just the first.
func Decode(body hcl.Body, dir string) (*Inventory, hcl.Diagnostics) {
	content, diags := body.Content(BodySchema)
	inv := &Inventory{}
	ectx := EvalContext()

	var defaults Host
	var haveDefaults *hcl.Block
	for _, b := range content.Blocks {
		if b.Type != "defaults" {
			continue
		}
		if haveDefaults != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate defaults block",
				Detail:   fmt.Sprintf("Only one defaults block is allowed per file; the first is at %s.", haveDefaults.DefRange),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		haveDefaults = b
		attrs, ds := b.Body.Content(defaultsSchema)
		diags = append(diags, ds...)
		diags = append(diags, decodeSettings(attrs.Attributes, ectx, dir, &defaults)...)
	}

	for _, b := range content.Blocks {
		if b.Type != "host" {
			continue
		}
		name := b.Labels[0]
		if !validName(name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid host name",
				Detail:   fmt.Sprintf("Host name %q must start with a letter or digit and contain only letters, digits, '.', '_' and '-'.", name),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		h := &Host{Name: name, DeclRange: b.DefRange}
		attrs, ds := b.Body.Content(hostSchema)
		diags = append(diags, ds...)
		if a, ok := attrs.Attributes["address"]; ok {
			diags = append(diags, decodeAttr(a, ectx, cty.String, func(v cty.Value) { h.Address = v.AsString() })...)
		}
		if a, ok := attrs.Attributes["layers"]; ok {
			diags = append(diags, decodeAttr(a, ectx, cty.List(cty.String), func(v cty.Value) {
				for _, l := range v.AsValueSlice() {
					h.Layers = append(h.Layers, l.AsString())
				}
			})...)
			for _, l := range h.Layers {
				if !validName(l) {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid layer name",
						Detail:   fmt.Sprintf("Layer name %q must contain only letters, digits, '.', '_' and '-'.", l),
						Subject:  a.Expr.Range().Ptr(),
					})
				}
			}
		}
		diags = append(diags, decodeSettings(attrs.Attributes, ectx, dir, h)...)
		ApplyDefaults(h, &defaults)
		diags = append(diags, inv.Add(h)...)
	}
	return inv, diags
}

// ApplyDefaults fills what h left unset from d (a file's defaults block, or
// a stack's ssh settings for hosts from other inventories).
func ApplyDefaults(h, d *Host) {
	if h.User == "" {
		h.User = d.User
	}
	if h.Port == 0 {
		h.Port = d.Port
	}
	s, ds := &h.SSH, &d.SSH
	if len(s.IdentityFiles) == 0 {
		s.IdentityFiles = slices.Clone(ds.IdentityFiles)
	}
	if len(s.KnownHosts) == 0 {
		s.KnownHosts = slices.Clone(ds.KnownHosts)
	}
	if s.HostKeyChecking == "" {
		s.HostKeyChecking = ds.HostKeyChecking
	}
	if s.ProxyJump == "" {
		s.ProxyJump = ds.ProxyJump
	}
	if s.Password == "" {
		s.Password = ds.Password
	}
	if s.BecomePassword == "" {
		s.BecomePassword = ds.BecomePassword
	}
	if s.ConnectTimeout == 0 {
		s.ConnectTimeout = ds.ConnectTimeout
	}
	if len(d.Vars) > 0 {
		merged := make(map[string]cty.Value, len(d.Vars)+len(h.Vars))
		for k, v := range d.Vars {
			merged[k] = v
		}
		for k, v := range h.Vars {
			merged[k] = v
		}
		h.Vars = merged
	}
}

func decodeSettings(attrs hcl.Attributes, ectx *hcl.EvalContext, dir string, h *Host) hcl.Diagnostics {
	var diags hcl.Diagnostics
	str := func(name string, set func(string)) {
		if a, ok := attrs[name]; ok {
			diags = append(diags, decodeAttr(a, ectx, cty.String, func(v cty.Value) { set(v.AsString()) })...)
		}
	}
	paths := func(name string, set func([]string)) {
		a, ok := attrs[name]
		if !ok {
			return
		}
		v, ds := a.Expr.Value(ectx)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			return
		}
		var list []string
		if sv, err := convert.Convert(v, cty.String); err == nil && !sv.IsNull() {
			list = []string{sv.AsString()}
		} else if lv, err := convert.Convert(v, cty.List(cty.String)); err == nil && !lv.IsNull() {
			for _, e := range lv.AsValueSlice() {
				list = append(list, e.AsString())
			}
		} else {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Incorrect attribute value type",
				Detail:   fmt.Sprintf("%s must be a path or a list of paths.", name),
				Subject:  a.Expr.Range().Ptr(),
			})
			return
		}
		for i, p := range list {
			list[i] = resolvePath(dir, p)
		}
		set(list)
	}
	str("user", func(s string) { h.User = s })
	if a, ok := attrs["port"]; ok {
		diags = append(diags, decodeAttr(a, ectx, cty.Number, func(v cty.Value) {
			bf := v.AsBigFloat()
			p, acc := bf.Int64()
			if !bf.IsInt() || acc != 0 || p < 1 || p > 65535 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid port",
					Detail:   "port must be a whole number from 1 to 65535.",
					Subject:  a.Expr.Range().Ptr(),
				})
				return
			}
			h.Port = int(p)
		})...)
	}
	paths("identity_file", func(l []string) { h.SSH.IdentityFiles = l })
	paths("known_hosts", func(l []string) { h.SSH.KnownHosts = l })
	if a, ok := attrs["host_key_checking"]; ok {
		diags = append(diags, decodeAttr(a, ectx, cty.String, func(v cty.Value) {
			switch s := v.AsString(); s {
			case "strict", "accept-new":
				h.SSH.HostKeyChecking = s
			default:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid host_key_checking",
					Detail:   fmt.Sprintf("host_key_checking is %q; it must be \"strict\" (refuse unknown keys) or \"accept-new\" (record unknown keys). A changed key is always refused.", s),
					Subject:  a.Expr.Range().Ptr(),
				})
			}
		})...)
	}
	str("proxy_jump", func(s string) { h.SSH.ProxyJump = s })
	str("password", func(s string) { h.SSH.Password = s })
	str("become_password", func(s string) { h.SSH.BecomePassword = s })
	if a, ok := attrs["connect_timeout"]; ok {
		diags = append(diags, decodeAttr(a, ectx, cty.String, func(v cty.Value) {
			d, err := time.ParseDuration(v.AsString())
			if err != nil || d <= 0 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid connect_timeout",
					Detail:   fmt.Sprintf("connect_timeout is %q; give a positive duration such as \"10s\".", v.AsString()),
					Subject:  a.Expr.Range().Ptr(),
				})
				return
			}
			h.SSH.ConnectTimeout = d
		})...)
	}
	if a, ok := attrs["vars"]; ok {
		v, ds := a.Expr.Value(ectx)
		diags = append(diags, ds...)
		if !ds.HasErrors() {
			if v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Incorrect attribute value type",
					Detail:   "vars must be an object, e.g. vars = { region = \"eu\" }.",
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				h.Vars = v.AsValueMap()
			}
		}
	}
	return diags
}

// decodeAttr evaluates a, converts it to want and hands it to set; a wrong
// type is an error pointing at the expression.
func decodeAttr(a *hcl.Attribute, ectx *hcl.EvalContext, want cty.Type, set func(cty.Value)) hcl.Diagnostics {
	v, diags := a.Expr.Value(ectx)
	if diags.HasErrors() {
		return diags
	}
	cv, err := convert.Convert(v, want)
	if err != nil || cv.IsNull() || !cv.IsWhollyKnown() {
		msg := "value is null"
		if err != nil {
			msg = err.Error()
		}
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s (want %s).", a.Name, msg, want.FriendlyName()),
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	set(cv)
	return diags
}

func resolvePath(dir, p string) string {
	if p == "~" || len(p) > 1 && p[:2] == "~/" {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '_' || r == '-')
		if !ok {
			return false
		}
	}
	return true
}
