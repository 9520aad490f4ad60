package stack

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

func loadApps(t *testing.T) *Stack {
	t.Helper()
	s, diags := loadAndValidate(t, filepath.Join("testdata", "valid", "apps"))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	return s
}

func TestLoadApps(t *testing.T) {
	s := loadApps(t)
	var names []string
	for _, a := range s.Apps {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, []string{"shop", "docs", "admin"}) {
		t.Fatalf("apps = %v, want declaration order", names)
	}
	if s.App("nope") != nil || s.App("docs") != s.Apps[1] {
		t.Error("App looks apps up by name, nil when none")
	}

	shop := s.App("shop")
	if !slices.Equal(shop.Layers, []string{"app", "worker"}) || shop.Root != "/srv/shop" || shop.User != "www-data" {
		t.Errorf("shop layers %v root %q user %q (root cleaned of its trailing slash)", shop.Layers, shop.Root, shop.User)
	}
	if shop.DeclRange.Filename != filepath.Join(s.Dir, "apps.hcl") || shop.DeclRange.Start.Line != 1 {
		t.Errorf("shop DeclRange = %v", shop.DeclRange)
	}
	src := shop.Source
	if src.Kind != SourceGit || src.URL != "https://git.example.com/shop.git" || src.Ref != "v1.4.0" || src.SHA256 != "" || src.Path != "" || src.DeclRange.Start.Line != 6 {
		t.Errorf("shop source = %+v (ref from a local)", src)
	}
	if !slices.Equal(shop.Shared, []string{"log", "tmp/pids"}) || shop.Build != "make build" || shop.Migrate != "./bin/migrate" {
		t.Errorf("shop shared %v build %q migrate %q", shop.Shared, shop.Build, shop.Migrate)
	}
	if want := (HealthCheck{URL: "http://127.0.0.1:8080/health", Timeout: 3 * time.Second, Retries: 10, Interval: 0, DeclRange: shop.HealthCheck.DeclRange}); *shop.HealthCheck != want {
		t.Errorf("shop health check = %+v, want %+v", *shop.HealthCheck, want)
	}
	if shop.KeepReleases != 3 || shop.Serial != (Serial{Percent: 50}) || shop.MaxFailPercentage != 20 || !shop.RollbackOnFailure {
		t.Errorf("shop keep %d serial %+v max_fail %d rollback %v", shop.KeepReleases, shop.Serial, shop.MaxFailPercentage, shop.RollbackOnFailure)
	}
	env := map[string]cty.Value{
		"PORT":        cty.StringVal("8080"),
		"DEBUG":       cty.StringVal("false"),
		"WORKERS":     cty.StringVal("4"),
		"DB_PASSWORD": cty.StringVal("changeme").Mark(SensitiveMark),
		"STACK":       cty.StringVal("apps"),
	}
	if len(shop.Environment) != len(env) {
		t.Errorf("environment = %#v", shop.Environment)
	}
	for k, want := range env {
		if got := shop.Environment[k]; !got.RawEquals(want) {
			t.Errorf("environment %s = %#v, want %#v (numbers and bools as strings, sensitive marked)", k, got, want)
		}
	}

	// Defaults.
	docs := s.App("docs")
	if docs.Root != "/srv/docs" || docs.User != "" || docs.KeepReleases != 5 || docs.MaxFailPercentage != 0 || docs.RollbackOnFailure {
		t.Errorf("docs defaults: %+v", docs)
	}
	if docs.Environment != nil || docs.Shared != nil || docs.Build != "" || docs.Migrate != "" {
		t.Errorf("docs optional fields: %+v", docs)
	}
	want := AppSource{Kind: SourceArchive, URL: "https://example.com/docs-2.0.tar.gz", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", StripComponents: 1, DeclRange: docs.Source.DeclRange}
	if docs.Source != want {
		t.Errorf("docs source = %+v, want %+v (sha256 lower-cased)", docs.Source, want)
	}
	if docs.Serial != (Serial{Count: 2}) {
		t.Errorf("docs serial = %+v", docs.Serial)
	}
	if want := (HealthCheck{Command: "test -f /srv/docs/current/index.html", Timeout: 5 * time.Second, Retries: 5, Interval: 2 * time.Second, DeclRange: docs.HealthCheck.DeclRange}); *docs.HealthCheck != want {
		t.Errorf("docs health check = %+v, want the defaults %+v", *docs.HealthCheck, want)
	}

	admin := s.App("admin")
	if admin.Source.Kind != SourceLocal || admin.Source.Path != filepath.Join(s.Dir, "shop-src") || admin.Source.URL != "" {
		t.Errorf("admin source = %+v: a relative path is under the stack dir", admin.Source)
	}
	if admin.Serial != (Serial{}) || admin.HealthCheck.URL != "https://admin.example.com/ping" {
		t.Errorf("admin serial %+v health %+v", admin.Serial, admin.HealthCheck)
	}
}

func TestAppSensitive(t *testing.T) {
	s := loadApps(t)
	if !s.App("shop").Sensitive() || s.App("docs").Sensitive() {
		t.Error("Sensitive is true for shop only, whose environment uses a sensitive variable")
	}
	if s.App("shop").Environment["PORT"].IsMarked() {
		t.Error("only values from sensitive values are marked")
	}

	// A sensitive map marks every value taken from it.
	s = mustLoad(t, Inputs{}, map[string]string{"s.hcl": `
layer "app" {}
variable "env" {
  type      = map(string)
  default   = { A = "1", B = "2" }
  sensitive = true
}
app "x" {
  layers      = ["app"]
  environment = var.env
  source {
    git = "git@git.example.com:x.git"
  }
}`})
	x := s.App("x")
	if len(x.Environment) != 2 || !x.Environment["A"].HasMark(SensitiveMark) || !x.Environment["B"].HasMark(SensitiveMark) || !x.Sensitive() {
		t.Errorf("environment = %#v", x.Environment)
	}
	if got, _ := x.Environment["B"].Unmark(); !got.RawEquals(cty.StringVal("2")) {
		t.Errorf("B = %#v", got)
	}
}

func TestAppEvalContext(t *testing.T) {
	s := loadApps(t)
	host := cty.ObjectVal(map[string]cty.Value{"hostname": cty.StringVal("app-1")})
	ctx := s.EvalContext(host, s.LayerValues(nil))

	unit := s.Layer("app").Events["deploy"][0]
	v, ds := unit.Attrs["content"].Expr.Value(ctx)
	if ds.HasErrors() || !v.RawEquals(cty.StringVal("[Service]\nWorkingDirectory=/srv/shop/current\nEnvironmentFile=/srv/shop/current/.env\n")) {
		t.Errorf("unit content = %#v %v", v, ds)
	}
	shop := ctx.Variables["app"].GetAttr("shop")
	for attr, want := range map[string]string{"name": "shop", "root": "/srv/shop", "current": "/srv/shop/current", "shared": "/srv/shop/shared", "releases": "/srv/shop/releases"} {
		if got := shop.GetAttr(attr); !got.RawEquals(cty.StringVal(want)) {
			t.Errorf("app.shop.%s = %#v, want %q", attr, got, want)
		}
	}
	if !shop.GetAttr("environment").GetAttr("DB_PASSWORD").HasMark(SensitiveMark) {
		t.Error("app.shop.environment keeps the sensitive mark")
	}
	if got := ctx.Variables["app"].GetAttr("docs").GetAttr("environment"); !got.RawEquals(cty.EmptyObjectVal) {
		t.Errorf("an app without environment has an empty one, got %#v", got)
	}

	// A resource built from the sensitive environment is sensitive.
	worker := s.Layer("worker").Events["deploy"][0]
	typ, _ := s.reg.Lookup(worker.Type)
	b, ds := worker.Build(ctx, typ, s.Dir)
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	if !b.Sensitive {
		t.Error("a resource using app.shop.environment with a secret in it must be sensitive")
	}
}

func TestAppRefsInResources(t *testing.T) {
	s, diags := loadMem(t, Inputs{}, map[string]string{"s.hcl": `
layer "web" {
  on "deploy" {
    file "a" {
      path = "${app.shp.current}/a"
    }
    file "b" {
      path = app.shop.root
    }
  }
}
app "shop" {
  layers = ["web"]
  source {
    git = "https://git.example.com/shop.git"
  }
}`})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	diags = s.Validate()
	if len(diags) != 1 || diags[0].Summary != "Reference to undeclared app" || !strings.Contains(diags[0].Detail, `Did you mean "shop"?`) || diags[0].Subject.Start.Line != 5 {
		t.Errorf("Validate = %v", diags)
	}
}

func TestAppPaths(t *testing.T) {
	a := &App{Name: "shop", Root: "/opt/shop"}
	for got, want := range map[string]string{
		a.ReleasesDir():                "/opt/shop/releases",
		a.SharedDir():                  "/opt/shop/shared",
		a.CurrentLink():                "/opt/shop/current",
		a.ReleaseDir("20261126T0102Z"): "/opt/shop/releases/20261126T0102Z",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestAppSourceString(t *testing.T) {
	for _, tt := range []struct {
		src  AppSource
		want string
	}{
		{AppSource{Kind: SourceGit, URL: "https://git.example.com/shop.git", Ref: "v1.4.0"}, "git https://git.example.com/shop.git@v1.4.0"},
		{AppSource{Kind: SourceArchive, URL: "https://example.com/a.tgz", SHA256: "ab"}, "archive https://example.com/a.tgz"},
		{AppSource{Kind: SourceLocal, Path: "/home/me/shop"}, "path /home/me/shop"},
		{AppSource{}, "no source"},
	} {
		if got := tt.src.String(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestSerialBatchSize(t *testing.T) {
	for _, tt := range []struct {
		s    Serial
		n    int
		want int
	}{
		{Serial{}, 0, 0},
		{Serial{}, 7, 7},
		{Serial{Count: 2}, 0, 0},
		{Serial{Count: 2}, 7, 2},
		{Serial{Count: 10}, 7, 7},
		{Serial{Count: 1}, 1, 1},
		{Serial{Percent: 50}, 0, 0},
		{Serial{Percent: 50}, 4, 2},
		{Serial{Percent: 50}, 5, 3},
		{Serial{Percent: 1}, 3, 1},
		{Serial{Percent: 1}, 150, 2},
		{Serial{Percent: 30}, 10, 3},
		{Serial{Percent: 33}, 100, 33},
		{Serial{Percent: 100}, 9, 9},
	} {
		if got := tt.s.BatchSize(tt.n); got != tt.want {
			t.Errorf("%+v.BatchSize(%d) = %d, want %d", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestAppArguments(t *testing.T) {
	dir := t.TempDir()
	s := mustLoad(t, Inputs{Vars: []string{"batch=3"}}, map[string]string{"s.hcl": `
layer "app" {}
variable "batch" {}
locals {
  env = { A = "a" }
}
app "x" {
  layers      = ["app"]
  environment = merge(local.env, { B = 2 })
  serial      = var.batch
  shared      = null
  source {
    path = "` + dir + `"
  }
  health_check {
    command  = "true"
    timeout  = 10
    interval = "1m30s"
    retries  = 0
  }
}
app "y" {
  layers      = ["app"]
  environment = null
  serial      = "100 %"
  source {
    git = "https://git.example.com/y.git"
  }
}`})
	x, y := s.App("x"), s.App("y")
	if x.Source.Path != dir || x.Serial != (Serial{Count: 3}) || x.Shared != nil {
		t.Errorf("x = %+v: an absolute path stays, a number given as a string is a count", x)
	}
	if len(x.Environment) != 2 || !x.Environment["B"].RawEquals(cty.StringVal("2")) {
		t.Errorf("x environment = %#v", x.Environment)
	}
	if hc := x.HealthCheck; hc.Timeout != 10*time.Second || hc.Interval != 90*time.Second || hc.Retries != 0 {
		t.Errorf("health check = %+v: durations are strings or seconds", hc)
	}
	if y.Environment != nil || y.Serial != (Serial{Percent: 100}) || y.Source.Ref != "HEAD" {
		t.Errorf("y = %+v", y)
	}
	if got := s.EvalContext(cty.DynamicVal, cty.DynamicVal).Variables["app"].GetAttr("y").GetAttr("environment"); !got.RawEquals(cty.EmptyObjectVal) {
		t.Errorf("a null environment is an empty one, got %#v", got)
	}
}

// A failed environment leaves app.NAME.environment unknown, so a resource
// using it gets no second error.
func TestAppFailedEnvironment(t *testing.T) {
	s, diags := loadMem(t, Inputs{}, map[string]string{"s.hcl": `
layer "app" {
  on "deploy" {
    file "env" {
      path    = "/etc/x"
      content = app.x.environment.A
    }
  }
}
app "x" {
  layers      = ["app"]
  environment = { A = host.name }
  source {
    git = "https://git.example.com/x.git"
  }
}`})
	if got := summaries(diags); !slices.Equal(got, []string{"Invalid reference"}) {
		t.Errorf("load = %v", got)
	}
	if got := summaries(s.Validate()); len(got) > 0 {
		t.Errorf("Validate = %v, want nothing more", got)
	}
}
