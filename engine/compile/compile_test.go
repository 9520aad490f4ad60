package compile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/facts"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/registry"
)

func hostFacts(name, ip string) cty.Value {
	f := &facts.Facts{Hostname: name, PrivateIP: ip, Arch: "x86_64", CPUs: 2, MemoryMB: 1024, Init: "systemd", PkgMgr: "apt"}
	f.OS.ID, f.OS.Family, f.OS.Version, f.OS.Name = "debian", "debian", "12", "Debian GNU/Linux 12 (bookworm)"
	return f.Value()
}

// TestCompileHello compiles the example stack for two hosts with known
// facts: recipes expanded first, attributes evaluated per host, topology
// visible to every host.
func TestCompileHello(t *testing.T) {
	reg := registry.Builtin()
	s, diags := stack.LoadDir(filepath.Join("..", "..", "examples", "hello"), stack.Inputs{}, reg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	hosts := []*inventory.Host{{Name: "web-1", Layers: []string{"web"}}, {Name: "web-2", Layers: []string{"web"}}, {Name: "db-1", Layers: []string{"db"}}}
	in := Input{Stack: s, Registry: reg, Hosts: hosts, Targets: hosts, Event: "setup",
		Facts: map[string]cty.Value{"web-1": hostFacts("web-1", "10.0.0.1"), "web-2": hostFacts("web-2", "10.0.0.2")}}
	plan, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Levels) != 1 || len(plan.Levels[0]) != 1 || len(plan.Levels[0][0].Hosts) != 2 {
		t.Fatalf("want one web layer with two hosts (db-1 has no web layer): %+v", plan.Levels)
	}
	var addrs []string
	for _, task := range plan.Levels[0][0].Hosts[0].Tasks {
		addrs = append(addrs, task.Res.Addr)
		if task.Module == nil || task.Skip != "" {
			t.Errorf("%s not configured: skip %q", task.Res.Addr, task.Skip)
		}
	}
	if got := strings.Join(addrs, " "); got != "package.tools package.nginx directory.docroot file.site service.nginx" {
		t.Errorf("order: %s", got)
	}

	in.Event = "configure"
	plan, err = Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	hp := plan.Levels[0][0].Hosts[1]
	if hp.Err != nil {
		t.Fatal(hp.Err)
	}
	// The page's content is rendered per host: its own facts, all peers.
	mh := &modules.Host{Name: "web-2"}
	absent := modules.Facts{}
	for _, p := range hp.Tasks[0].Module.Probes(mh) {
		absent[p.ID] = modules.ProbeResult{Stdout: "absent\n"}
	}
	acts, err := hp.Tasks[0].Module.Plan(mh, absent)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acts {
		if a.Upload == nil {
			continue
		}
		page := string(a.Upload.Content)
		if !strings.Contains(page, "This is <b>web-2</b>") || !strings.Contains(page, "address 10.0.0.2") || !strings.Contains(page, "Web layer: web-1, web-2.") {
			t.Errorf("page:\n%s", page)
		}
		return
	}
	t.Fatalf("no upload planned for a missing page: %+v", acts)
}

func TestCompileUnknownLayer(t *testing.T) {
	reg := registry.Builtin()
	s, diags := stack.LoadDir(filepath.Join("..", "..", "examples", "hello"), stack.Inputs{}, reg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, err := Compile(Input{Stack: s, Registry: reg, Event: "setup", Layer: "cache"}); err == nil || !strings.Contains(err.Error(), `layer "cache" is not declared`) {
		t.Errorf("err = %v", err)
	}
}

// TestSelfIsTheLayer: self is the layer a resource runs in, so a recipe
// shared by two layers reads each one's settings, and whole layer and app
// objects can be iterated.
func TestSelfIsTheLayer(t *testing.T) {
	reg := registry.Builtin()
	dir := t.TempDir()
	src := `
recipe "conf" {
  file "conf" {
    path    = "/etc/${self.name}.conf"
    content = "port=${self.settings.port} peers=${join(",", [for i in self.instances : i.name])} apps=${join(",", [for a in app : a.name if contains(a.layers, self.name)])} own=${join(",", [for a in self.apps : a.current])} all=${length(keys(layer))}"
  }
}
layer "web" {
  settings = { port = 80 }
  on "configure" {
    include "conf" {}
  }
}
layer "api" {
  settings = { port = 8080 }
  on "configure" {
    include "conf" {}
  }
}
app "shop" {
  layers = ["api"]
  source {
    path = "."
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, diags := stack.LoadDir(dir, stack.Inputs{}, reg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if ds := s.Validate(); ds.HasErrors() {
		t.Fatal(ds)
	}
	hosts := []*inventory.Host{{Name: "w1", Layers: []string{"web"}}, {Name: "a1", Layers: []string{"api"}}, {Name: "a2", Layers: []string{"api"}}}
	plan, err := Compile(Input{Stack: s, Registry: reg, Hosts: hosts, Targets: hosts, Event: "configure"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"w1": "port=80 peers=w1 apps= own= all=2",
		"a1": "port=8080 peers=a1,a2 apps=shop own=/srv/shop/current all=2",
	}
	for _, level := range plan.Levels {
		for _, lp := range level {
			for _, hp := range lp.Hosts {
				if hp.Err != nil {
					t.Fatal(hp.Err)
				}
				w, ok := want[hp.Host.Name]
				if !ok {
					continue
				}
				mh := &modules.Host{Name: hp.Host.Name}
				absent := modules.Facts{}
				for _, p := range hp.Tasks[0].Module.Probes(mh) {
					absent[p.ID] = modules.ProbeResult{Stdout: "absent\n"}
				}
				acts, err := hp.Tasks[0].Module.Plan(mh, absent)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, a := range acts {
					if a.Upload != nil && string(a.Upload.Content) == w && strings.HasSuffix(a.Upload.Path, "/"+lp.Layer.Name+".conf") {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: actions %+v, want content %q", hp.Host.Name, acts, w)
				}
				delete(want, hp.Host.Name)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("not compiled: %v", want)
	}
}
