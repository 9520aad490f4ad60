package template_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/template"
)

func TestFixtures(t *testing.T) { fixture.Run(t, template.Type()) }

// config is a template's Config for a template file with content tmpl,
// in a scope with a host fact and a sensitive var.
func config(t *testing.T, dir, path, tmpl string) modules.Config {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "t.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := map[string]json.RawMessage{}
	for k, v := range map[string]string{"path": path, "source": "t.tmpl"} {
		raw[k], _ = json.Marshal(v)
	}
	cfg := fixture.Config(t, template.Type(), raw, nil, dir)
	cfg.Eval = fixture.Scope(t, map[string]json.RawMessage{
		"host": json.RawMessage(`{"hostname": "web1.example.com"}`),
		"var":  json.RawMessage(`{"pw": "hunter2-very-secret"}`),
	}, []string{"var.pw"}, dir)
	return cfg
}

// TestConvergeLocal renders a template, writes it on this machine as the
// engine would, and checks a second plan is empty; a changed template then
// plans one update with a diff of the change.
func TestConvergeLocal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out", "app.conf")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	build := func(tmpl string) modules.Resource {
		cfg := config(t, dir, p, tmpl)
		cfg.Attrs["vars"] = cty.ObjectVal(map[string]cty.Value{"port": cty.NumberIntVal(8080)})
		res, err := template.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	fixture.Converge(t, build("name ${host.hostname}\nport ${port}\n"))
	if b, _ := os.ReadFile(p); string(b) != "name web1.example.com\nport 8080\n" {
		t.Fatalf("rendered %q", b)
	}
	acts := fixture.Converge(t, build("name ${host.hostname}\nport ${port + 1}\n"))
	if len(acts) != 1 || !strings.Contains(acts[0].Diff, "-port 8080\n+port 8081\n") {
		t.Fatalf("want one update with a diff of the port, got %+v", acts)
	}
}

// TestMarkedVars checks vars still carrying marks (not unmarked by the
// engine) render, and make the content sensitive.
func TestMarkedVars(t *testing.T) {
	dir := t.TempDir()
	cfg := config(t, dir, "/etc/token", "${token}\n")
	cfg.Attrs["vars"] = cty.ObjectVal(map[string]cty.Value{"token": cty.StringVal("s3cr3t-token")}).Mark("sensitive")
	res, err := template.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	acts, err := res.Plan(fixture.DefaultHost(), modules.Facts{
		"stat:/etc/token":   {Stdout: "absent\n"},
		"sha256:/etc/token": {},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 1 || !acts[0].Sensitive || strings.Contains(acts[0].Diff, "s3cr3t") || string(acts[0].Upload.Content) != "s3cr3t-token\n" {
		t.Fatalf("want one sensitive upload of the token with a hidden diff, got %+v", acts)
	}
}

// TestUnknown checks attributes not known yet are no error, and that a
// template rendering an unknown value refuses to plan rather than write
// an empty file.
func TestUnknown(t *testing.T) {
	cfg := modules.Config{Attrs: map[string]cty.Value{}, Dir: t.TempDir()}
	for _, a := range template.Type().Attrs {
		cfg.Attrs[a.Name] = cty.UnknownVal(a.Type)
	}
	if _, err := template.New(cfg); err != nil {
		t.Fatalf("unknown attributes: %v", err)
	}
	dir := t.TempDir()
	cfg = config(t, dir, "/etc/x", "${host.hostname}\n")
	cfg.Eval.Variables["host"] = cty.ObjectVal(map[string]cty.Value{"hostname": cty.UnknownVal(cty.String)})
	res, err := template.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Plan(fixture.DefaultHost(), modules.Facts{"stat:/etc/x": {Stdout: "absent\n"}}); err == nil || !strings.Contains(err.Error(), "not known") {
		t.Fatalf("Plan: %v, want an error saying the content is not known", err)
	}
}

// TestSensitiveSourceName checks a template path from a sensitive
// variable is named neither in a read error nor in a template error.
func TestSensitiveSourceName(t *testing.T) {
	dir := t.TempDir()
	cfg := config(t, dir, "/etc/x", "${host.hostnme}\n")
	cfg.Sensitive["source"] = true
	_, err := template.New(cfg)
	if err == nil || strings.Contains(err.Error(), "t.tmpl") || !strings.Contains(err.Error(), "template:1:7: Unsupported attribute") {
		t.Fatalf("New: %v, want the error located in \"template\", not t.tmpl", err)
	}
	cfg.Attrs["source"] = cty.StringVal("secret-name.tmpl")
	_, err = template.New(cfg)
	if err == nil || strings.Contains(err.Error(), "secret-name") {
		t.Fatalf("New: %v, want an error without the path", err)
	}
}
