package stack

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/inventory"
)

const memDir = "/stacks/shop"

// loadMem loads a stack from in-memory files.
func loadMem(t *testing.T, in Inputs, files map[string]string) (*Stack, hcl.Diagnostics) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	s, diags := Load(fsys, memDir, in, testRegistry())
	if s == nil {
		t.Fatal("Load returned a nil stack")
	}
	return s, diags
}

func mustLoad(t *testing.T, in Inputs, files map[string]string) *Stack {
	t.Helper()
	s, diags := loadMem(t, in, files)
	diags = append(diags, s.Validate()...)
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics: %v", diags)
	}
	return s
}

func summaries(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d.Summary)
		}
	}
	return out
}

func TestLoadShop(t *testing.T) {
	s, diags := LoadDir(filepath.Join("testdata", "valid", "shop"), Inputs{}, testRegistry())
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	abs, _ := filepath.Abs(filepath.Join("testdata", "valid", "shop"))
	if s.Name != "shop" || s.Dir != abs || s.Settings.OS != "debian" || s.Settings.Forks != 50 || !s.Settings.Become {
		t.Errorf("stack = %q %q %+v", s.Name, s.Dir, s.Settings)
	}
	if len(s.Files) != 2 {
		t.Errorf("Files has %d entries, want the 2 stack files", len(s.Files))
	}

	web := s.Layer("web")
	if web == nil || !slices.Equal(web.DependsOn, []string{"db"}) || web.MaxFailPercentage != 30 {
		t.Fatalf("web = %+v", web)
	}
	if got := s.Layer("db").MaxFailPercentage; got != -1 {
		t.Errorf("default max_fail_percentage = %d, want -1", got)
	}
	var addrs []string
	for _, r := range web.Events["setup"] {
		addrs = append(addrs, r.Addr)
	}
	if want := []string{"package.tools", "package.nginx", "file.index", "service.nginx"}; !slices.Equal(addrs, want) {
		t.Errorf("setup resources %v, want %v (include expanded in place)", addrs, want)
	}
	tools, index, nginx := web.Events["setup"][0], web.Events["setup"][2], web.Events["setup"][3]
	if tools.Recipe != "base" || index.Recipe != "" {
		t.Errorf("Recipe fields: %q %q", tools.Recipe, index.Recipe)
	}
	if !slices.Equal(index.Notify, []string{"service.nginx"}) || !slices.Equal(index.DependsOn, []string{"package.nginx"}) {
		t.Errorf("file.index depends_on %v notify %v", index.DependsOn, index.Notify)
	}
	if nginx.OnlyIf == nil || nginx.NotIf != nil {
		t.Errorf("service.nginx conditions: %v %v", nginx.OnlyIf, nginx.NotIf)
	}
	if _, ok := index.Attrs["notify"]; ok {
		t.Error("meta-arguments must not be in Attrs")
	}
	if _, ok := index.Attrs["content"]; !ok {
		t.Error("content missing from Attrs")
	}
	if got := web.Settings.GetAttr("port"); !got.RawEquals(cty.NumberIntVal(8080)) {
		t.Errorf("settings.port = %#v", got)
	}
	if got := s.Recipes["base"]; got == nil || len(got.Resources) != 1 {
		t.Errorf("recipe base = %+v", got)
	}

	if got := s.Locals.GetAttr("banner"); !got.RawEquals(cty.StringVal("HELLO 8080")) {
		t.Errorf("local.banner = %#v", got)
	}
	pw := s.Vars.GetAttr("db_password")
	if !pw.HasMark(SensitiveMark) || s.Vars.GetAttr("app_port").IsMarked() {
		t.Errorf("only the sensitive variable is marked: %#v", s.Vars)
	}
	if !s.Layer("db").Settings.GetAttr("password").HasMark(SensitiveMark) {
		t.Error("settings computed from a sensitive variable must stay marked")
	}
	if v := s.Variables["app_port"]; v.Type != cty.Number || v.Description == "" || len(v.Validations) != 1 || v.Validations[0].ErrorMessage != "app_port must be above 1024." {
		t.Errorf("variable = %+v", v)
	}

	// The ssh block fills what inline hosts leave unset.
	web1 := s.Inventory.Host("web-1")
	db1 := s.Inventory.Host("db-1")
	if web1.User != "opsrun" || db1.User != "admin" {
		t.Errorf("users %q %q", web1.User, db1.User)
	}
	if want := filepath.Join(abs, "keys", "id_ed25519"); !slices.Equal(web1.SSH.IdentityFiles, []string{want}) || web1.SSH.HostKeyChecking != "accept-new" {
		t.Errorf("web-1 ssh = %+v", web1.SSH)
	}
	if s.SSHDefaults == nil || s.SSHDefaults.User != "opsrun" {
		t.Errorf("SSHDefaults = %+v", s.SSHDefaults)
	}
}

// The compiler's view: evaluate a resource argument for one host.
func TestEvalContextForHost(t *testing.T) {
	s, diags := LoadDir(filepath.Join("testdata", "valid", "shop"), Inputs{}, testRegistry())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	host := cty.ObjectVal(map[string]cty.Value{
		"hostname": cty.StringVal("web-1"),
		"address":  cty.StringVal("10.0.0.1"),
		"init":     cty.StringVal("systemd"),
		"os":       cty.ObjectVal(map[string]cty.Value{"family": cty.StringVal("debian")}),
	})
	db := cty.ObjectVal(map[string]cty.Value{"address": cty.StringVal("10.0.0.2")})
	ctx := s.EvalContext(host, s.LayerValues(map[string][]cty.Value{"db": {db}, "web": {host}}))

	web := s.Layer("web")
	index := web.Events["setup"][2]
	v, ds := index.Attrs["content"].Expr.Value(ctx)
	if ds.HasErrors() || !v.RawEquals(cty.StringVal("hello from web-1 (debian), HELLO 8080")) {
		t.Errorf("content = %#v %v", v, ds)
	}
	cond, ds := web.Events["setup"][3].OnlyIf.Value(ctx)
	if ds.HasErrors() || !cond.RawEquals(cty.True) {
		t.Errorf("only_if = %#v %v", cond, ds)
	}
	up, ds := web.Events["configure"][0].Attrs["content"].Expr.Value(ctx)
	if ds.HasErrors() || !up.RawEquals(cty.StringVal("server 10.0.0.2:8080;")) {
		t.Errorf("upstreams = %#v %v", up, ds)
	}
}

func TestMultiFileStack(t *testing.T) {
	s, diags := LoadDir(filepath.Join("testdata", "valid", "multi"), Inputs{}, testRegistry())
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	app := s.Vars.GetAttr("app")
	if !app.GetAttr("port").RawEquals(cty.NumberIntVal(3000)) {
		t.Errorf("optional() default not applied: %#v", app)
	}
	if got := s.Locals.GetAttr("release"); !got.RawEquals(cty.StringVal("/srv/shop/releases/v1.4.2")) {
		t.Errorf("local.release = %#v", got)
	}
	if !s.Locals.GetAttr("env").GetAttr("API_KEY").HasMark(SensitiveMark) {
		t.Error("a local built from a sensitive variable must be marked")
	}
	var deploy []string
	for _, r := range s.Layer("app").Events["deploy"] {
		deploy = append(deploy, r.Addr+"@"+r.Recipe)
	}
	want := []string{"package.base@base", "directory.app_dir@users", "directory.release@app", "file.env@app", "command.switch@app", "service.app@"}
	if !slices.Equal(deploy, want) {
		t.Errorf("deploy = %v, want %v (nested includes in order)", deploy, want)
	}
	// Per-file defaults: hosts.hcl has none, so app-2 keeps port 0 but
	// gets the stack's ssh settings.
	app1, app2 := s.Inventory.Host("app-1"), s.Inventory.Host("app-2")
	if app1.Port != 2222 || app2.Port != 0 || app2.User != "deploy" || app1.User != "admin" {
		t.Errorf("app-1 %+v\napp-2 %+v", app1, app2)
	}
	if app2.SSH.ProxyJump != "bastion.example.com" || app2.SSH.ConnectTimeout != 5*time.Second {
		t.Errorf("app-2 ssh = %+v", app2.SSH)
	}
	// The template renders through the real file system, for real hosts.
	host := cty.ObjectVal(map[string]cty.Value{"address": cty.StringVal("10.1.0.20")})
	ctx := s.EvalContext(host, s.LayerValues(map[string][]cty.Value{"app": {host}}))
	cfg, ds := s.Layer("lb").Events["configure"][0].Attrs["content"].Expr.Value(ctx)
	if ds.HasErrors() || !strings.Contains(cfg.AsString(), "server app0 10.1.0.20:3000 check") {
		t.Errorf("haproxy.cfg = %#v %v", cfg, ds)
	}
}

func TestInMemoryFilesAndNames(t *testing.T) {
	s, diags := loadMem(t, Inputs{}, map[string]string{
		"web.hcl":        "layer \"web\" {\n  bogus = 1\n}\n",
		".hidden.hcl":    "this is not HCL {",
		"#autosave#.hcl": "nor this {",
		"notes.txt":      "ignored",
	})
	if len(diags) != 1 || diags[0].Subject.Filename != filepath.Join(memDir, "web.hcl") || diags[0].Subject.Start.Line != 2 {
		t.Fatalf("diags = %v", diags)
	}
	if s.Files[filepath.Join(memDir, "web.hcl")] == nil {
		t.Error("Files lacks the stack file, so diagnostics print no excerpt")
	}
	if s.Name != "shop" {
		t.Errorf("a stack without a stack block is named after its directory, got %q", s.Name)
	}

	_, diags = loadMem(t, Inputs{}, map[string]string{"README.md": "# no stack here"})
	if got := summaries(diags); !slices.Equal(got, []string{"No stack files"}) {
		t.Errorf("empty directory: %v", got)
	}
}

const varsStack = `
variable "port" {
  type    = number
  default = 8080
  validation {
    condition     = var.port > 1024
    error_message = "port must be above 1024."
  }
}
variable "name" {
  default = "shop"
}
variable "backends" {
  type    = list(string)
  default = []
}
variable "token" {
  type      = string
  sensitive = true
}
`

func TestVariablePrecedence(t *testing.T) {
	dir := t.TempDir()
	f1 := filepath.Join(dir, "one.vars")
	f2 := filepath.Join(dir, "two.vars")
	if err := os.WriteFile(f1, []byte("port = 2000\nname = \"from-file-1\"\ntoken = \"t1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f2, []byte("port = 3000\nbackends = [\"a\", \"b\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := Inputs{
		VarFiles: []string{f1, f2},
		Env:      []string{"PATH=/bin", "OPSRUN_VAR_port=4000", "OPSRUN_VAR_name=from-env", "OPSRUN_VAR_unused=x"},
		Vars:     []string{"port=5000", "port=5001"},
	}
	s := mustLoad(t, in, map[string]string{"vars.hcl": varsStack})
	check := func(name string, want cty.Value) {
		t.Helper()
		if got := s.Vars.GetAttr(name); !got.RawEquals(want) {
			t.Errorf("var.%s = %#v, want %#v", name, got, want)
		}
	}
	check("port", cty.NumberIntVal(5001))    // the last -var wins over all
	check("name", cty.StringVal("from-env")) // env over var files
	check("backends", cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}))
	check("token", cty.StringVal("t1").Mark(SensitiveMark))
}

func TestVariableFromCommandLine(t *testing.T) {
	s := mustLoad(t, Inputs{
		Vars: []string{`backends=["x", "y"]`, "name=a=b", "token=s3cret"},
		Env:  []string{"OPSRUN_VAR_port=9000"},
	}, map[string]string{"vars.hcl": varsStack})
	if got := s.Vars.GetAttr("port"); !got.RawEquals(cty.NumberIntVal(9000)) {
		t.Errorf("a number from the environment is parsed: %#v", got)
	}
	if got := s.Vars.GetAttr("name"); !got.RawEquals(cty.StringVal("a=b")) {
		t.Errorf("a string -var is taken as is, after the first '=': %#v", got)
	}
	if got := s.Vars.GetAttr("backends"); got.LengthInt() != 2 {
		t.Errorf("a list -var is parsed as HCL: %#v", got)
	}
}

func TestVariableErrors(t *testing.T) {
	dir := t.TempDir()
	vf := filepath.Join(dir, "x.vars")
	if err := os.WriteFile(vf, []byte("token = \"t\"\nprot = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   Inputs
		want []string
		warn string
	}{
		{"missing required", Inputs{}, []string{"No value for required variable"}, ""},
		{"undeclared -var", Inputs{Vars: []string{"token=x", "prot=1"}}, []string{"Value for undeclared variable"}, ""},
		{"no equals", Inputs{Vars: []string{"token=x", "port"}}, []string{"Invalid -var option"}, ""},
		{"not a number", Inputs{Vars: []string{"token=x", "port=eighty"}}, []string{"Invalid value for variable"}, ""},
		{"wrong type", Inputs{Vars: []string{"token=x", `port="80"x`}}, []string{"Invalid value for variable"}, ""},
		{"list type", Inputs{Vars: []string{"token=x", `backends={a=1}`}}, []string{"Invalid value for variable"}, ""},
		{"validation", Inputs{Vars: []string{"token=x", "port=80"}}, []string{"Invalid value for variable"}, ""},
		{"missing var file", Inputs{VarFiles: []string{filepath.Join(dir, "nope.vars")}, Vars: []string{"token=x"}}, []string{"Cannot read var file"}, ""},
		{"undeclared in var file", Inputs{VarFiles: []string{vf}}, nil, "Value for undeclared variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, diags := loadMem(t, tt.in, map[string]string{"vars.hcl": varsStack})
			if got := summaries(diags); !slices.Equal(got, tt.want) {
				t.Errorf("errors %v, want %v\n%v", got, tt.want, diags)
			}
			for _, d := range diags {
				if d.Subject == nil || d.Detail == "" {
					t.Errorf("diagnostic %q lacks a subject or a detail", d.Summary)
				}
				if d.Severity == hcl.DiagWarning && d.Summary != tt.warn {
					t.Errorf("unexpected warning %q", d.Summary)
				}
			}
			if tt.warn != "" && !slices.ContainsFunc(diags, func(d *hcl.Diagnostic) bool { return d.Summary == tt.warn }) {
				t.Errorf("missing warning %q", tt.warn)
			}
			if tt.name == "validation" {
				d := diags[0]
				if !strings.Contains(d.Detail, "port must be above 1024.") || d.Subject.Start.Line != 6 {
					t.Errorf("validation error must carry the message at the condition: %v", d)
				}
			}
			if tt.name == "undeclared -var" && !strings.Contains(diags[0].Detail, `Did you mean "port"?`) {
				t.Errorf("no suggestion: %s", diags[0].Detail)
			}
			// A failed variable is unknown, not absent: its users must not
			// get errors of their own.
			if s.Vars.Type().IsObjectType() && !s.Vars.Type().HasAttribute("port") {
				t.Error("var.port missing from Vars")
			}
		})
	}
}

// fakeBuiltins stands in for playbooks/ until built-in layers exist.
type fakeBuiltins map[string]*Layer

func (b fakeBuiltins) Names() []string { return sortedKeys(b) }
func (b fakeBuiltins) Layer(name string) (*Layer, bool) {
	l, ok := b[name]
	return l, ok
}

func TestBuiltinLayers(t *testing.T) {
	// Built-in layers will be HCL in playbooks/; load one the same way.
	nginx := mustLoad(t, Inputs{}, map[string]string{"nginx.hcl": `
layer "nginx" {
  settings = { port = 80, user = "www-data" }
  on "setup" {
    package "nginx" { name = "nginx" }
    service "nginx" { name = "nginx" }
  }
}`}).Layer("nginx")
	in := Inputs{Builtins: fakeBuiltins{"nginx": nginx}}
	s := mustLoad(t, in, map[string]string{"web.hcl": `
layer "web" {
  use      = "nginx"
  settings = { port = 8080 }
  on "setup" {
    file "index" {
      path   = "/var/www/index.html"
      notify = [service.nginx]
    }
  }
}`})
	web := s.Layer("web")
	var addrs []string
	for _, r := range web.Events["setup"] {
		addrs = append(addrs, r.Addr)
	}
	if !slices.Equal(addrs, []string{"package.nginx", "service.nginx", "file.index"}) {
		t.Errorf("setup = %v: built-in resources first, and notify reaches them", addrs)
	}
	if web.Use != "nginx" || !web.Settings.GetAttr("port").RawEquals(cty.NumberIntVal(8080)) || !web.Settings.GetAttr("user").RawEquals(cty.StringVal("www-data")) {
		t.Errorf("settings = %#v: the stack's keys over the built-in's", web.Settings)
	}
	if nginx.Events["setup"][0].Addr != "package.nginx" || len(nginx.Events["setup"]) != 2 {
		t.Error("using a built-in layer must not modify it")
	}

	_, diags := loadMem(t, in, map[string]string{"web.hcl": `layer "web" { use = "ngnix" }`})
	if len(diags) != 1 || !strings.Contains(diags[0].Detail, `"nginx"`) || !strings.Contains(diags[0].Detail, `Did you mean "nginx"?`) {
		t.Errorf("unknown built-in must list the available ones: %v", diags)
	}
}

func TestApplySSHDefaults(t *testing.T) {
	s := mustLoad(t, Inputs{}, map[string]string{"stack.hcl": `
stack "x" {
  ssh {
    user          = "ops"
    port          = 2200
    identity_file = ["id_a", "/abs/id_b"]
  }
}`})
	// Hosts from a -i inventory file.
	hosts := []*inventory.Host{
		{Name: "a"},
		{Name: "b", User: "root", Port: 22, SSH: inventory.SSH{IdentityFiles: []string{"/mine"}}},
	}
	s.ApplySSHDefaults(hosts)
	if hosts[0].User != "ops" || hosts[0].Port != 2200 || !slices.Equal(hosts[0].SSH.IdentityFiles, []string{filepath.Join(memDir, "id_a"), "/abs/id_b"}) {
		t.Errorf("a = %+v", hosts[0])
	}
	if hosts[1].User != "root" || hosts[1].Port != 22 || !slices.Equal(hosts[1].SSH.IdentityFiles, []string{"/mine"}) {
		t.Errorf("b = %+v: a host's own settings win", hosts[1])
	}
	hosts[0].SSH.IdentityFiles[0] = "changed"
	if s.SSHDefaults.SSH.IdentityFiles[0] == "changed" {
		t.Error("hosts must not share the defaults' slices")
	}
}

func TestValidateUnknownHost(t *testing.T) {
	// Host facts are unknown in Validate but typed: host.vars may hold
	// anything, a misspelt fact is caught, and so is a type error that does
	// not depend on the host.
	s, diags := loadMem(t, Inputs{}, map[string]string{"web.hcl": `
layer "web" {
  on "setup" {
    service "a" {
      name    = host.vars.whatever.deep
      enabled = host.init == "systemd"
    }
    service "c" {
      name    = host.hostnme
      only_if = length(layer.web.instances) > 1
    }
    service "b" {
      name    = "b"
      enabled = {}
    }
  }
}`})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	got := summaries(s.Validate())
	if !slices.Equal(got, []string{"Unsupported attribute", "Incorrect attribute value type"}) {
		t.Errorf("Validate = %v", got)
	}
}

func TestHostInUndeclaredLayerWarns(t *testing.T) {
	_, diags := loadMem(t, Inputs{}, map[string]string{"s.hcl": `
layer "web" {}
host "h" {
  layers = ["wbe"]
}`})
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, `Did you mean "web"?`) {
		t.Errorf("diags = %v", diags)
	}
}

func TestDiagnosticsSorted(t *testing.T) {
	_, diags := loadMem(t, Inputs{}, map[string]string{
		"b.hcl": "layer \"x\" {\n  nope = 1\n}\nlayer \"y\" {\n  nope = 1\n}\n",
		"a.hcl": "layer \"z\" {\n  depends_on = [\"q\"]\n}\n",
	})
	var got []string
	for _, d := range diags {
		got = append(got, filepath.Base(d.Subject.Filename)+":"+string(rune('0'+d.Subject.Start.Line)))
	}
	if !slices.Equal(got, []string{"a.hcl:2", "b.hcl:2", "b.hcl:5"}) {
		t.Errorf("order = %v", got)
	}
}

// self is for resource arguments only; whole layer and app objects may be
// iterated there.
func TestSelfScope(t *testing.T) {
	_, diags := loadMem(t, Inputs{}, map[string]string{"s.hcl": `
locals {
  x = self.name
}
layer "web" {
  settings = { a = self.settings }
}`})
	if len(diags) != 2 || !strings.Contains(diags[0].Detail, "cannot use self") || !strings.Contains(diags[1].Detail, "cannot use self") {
		t.Errorf("diags: %v", diags)
	}
	s := mustLoad(t, Inputs{}, map[string]string{"s.hcl": `
layer "web" {
  on "configure" {
    command "x" {
      command = "echo ${self.name} ${length(keys(layer))} ${length(keys(app))}"
    }
  }
}`})
	if ds := s.Validate(); ds.HasErrors() {
		t.Errorf("validate: %v", ds)
	}
}
