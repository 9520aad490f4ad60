package stack

import (
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// App is an application the stack deploys: a source built into numbered
// releases under Root on the instances of its layers, one of which is
// current at a time.
type App struct {
	Name   string
	Layers []string
	Root   string // "/srv/NAME" by default
	// User owns the releases; build and migrate run as this user. "" is
	// root.
	User   string
	Source AppSource
	// Environment are the variables given to build, migrate and the health
	// check and written to the release's .env; values are cty.String, marked
	// SensitiveMark when they come from a sensitive value.
	Environment map[string]cty.Value
	// Shared are directories relative to a release, kept across releases
	// under SharedDir and linked into each release.
	Shared []string
	// Build runs in the new release's directory; Migrate runs once per
	// deploy, on one instance. Shell commands, "" for none.
	Build   string
	Migrate string
	// HealthCheck must pass on an instance after the switch; nil when none.
	HealthCheck *HealthCheck
	// KeepReleases is how many releases stay on disk (default 5).
	KeepReleases int
	Serial       Serial
	// MaxFailPercentage is the share of a batch's hosts that may fail
	// before the rollout stops (default 0).
	MaxFailPercentage int
	// RollbackOnFailure switches the hosts a failed rollout reached back to
	// their previous release.
	RollbackOnFailure bool
	DeclRange         hcl.Range

	// envFailed is set when environment had an error (reported): the app
	// variable's environment is then unknown, so resources using it get no
	// second error for it.
	envFailed bool
}

// Source kinds: AppSource.Kind is one of these, named after the argument
// that selects it.
const (
	SourceGit     = "git"
	SourceArchive = "archive"
	SourceLocal   = "path"
)

// AppSource is where an app's code comes from.
type AppSource struct {
	Kind            string // SourceGit, SourceArchive or SourceLocal
	URL             string // git repository or archive URL
	Ref             string // git: "HEAD" by default
	SHA256          string // archive, lower-case hex
	StripComponents int    // archive
	Path            string // local: absolute directory on the operator's machine
	// LocalBuild is a shell command run in Path on the operator's machine
	// before the directory is packed (a Go binary built there, so the
	// hosts need no toolchain); "" for none.
	LocalBuild string
	DeclRange  hcl.Range
}

// HealthCheck is how an instance shows that a new release works.
type HealthCheck struct {
	URL       string // full URL when http was given (a path becomes "http://127.0.0.1:PORT/path"); "" for a command check
	Command   string
	Timeout   time.Duration // per attempt
	Retries   int           // attempts after the first
	Interval  time.Duration // between attempts
	DeclRange hcl.Range
}

// Serial is how many hosts a rolling deploy takes per batch.
type Serial struct {
	Count   int // a fixed number of hosts; 0 when Percent is set or when unset
	Percent int // a percentage of the hosts, 1..100; 0 when Count is set or unset
}

// BatchSize is the batch size for n hosts: Count (capped at n), or
// ceil(n*Percent/100) (at least 1), or n when unset. n==0 gives 0.
func (s Serial) BatchSize(n int) int {
	switch {
	case n <= 0:
		return 0
	case s.Count > 0:
		return min(s.Count, n)
	case s.Percent > 0:
		return min(max((n*s.Percent+99)/100, 1), n)
	}
	return n
}

// App returns the app named name, or nil.
func (s *Stack) App(name string) *App {
	for _, a := range s.Apps {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Sensitive reports whether any environment value is marked sensitive.
func (a *App) Sensitive() bool {
	for _, v := range a.Environment {
		if v.HasMark(SensitiveMark) {
			return true
		}
	}
	return false
}

// ReleasesDir is the directory on the host holding one directory per
// release.
func (a *App) ReleasesDir() string { return a.Root + "/releases" }

// SharedDir is the directory on the host holding the shared directories,
// which outlive releases.
func (a *App) SharedDir() string { return a.Root + "/shared" }

// CurrentLink is the symlink on the host naming the current release.
func (a *App) CurrentLink() string { return a.Root + "/current" }

// ReleaseDir is the directory on the host of the release with this id.
func (a *App) ReleaseDir(id string) string { return a.ReleasesDir() + "/" + id }

// String describes the source for people: "git https://…@v1.4.0",
// "archive https://…", "path /abs/dir".
func (s AppSource) String() string {
	switch s.Kind {
	case SourceGit:
		return "git " + s.URL + "@" + s.Ref
	case SourceArchive:
		return "archive " + s.URL
	case SourceLocal:
		return "path " + s.Path
	}
	return "no source"
}

// appValues is the app variable resource expressions see: app.NAME.name,
// .layers, .user, .root, .current, .shared, .releases and .environment
// (marks kept). Built-in layers find the apps they serve by .layers.
func (s *Stack) appValues() cty.Value {
	apps := map[string]cty.Value{}
	for _, a := range s.Apps {
		env := cty.EmptyObjectVal
		switch {
		case a.envFailed:
			env = cty.DynamicVal
		case len(a.Environment) > 0:
			env = cty.ObjectVal(a.Environment)
		}
		apps[a.Name] = cty.ObjectVal(map[string]cty.Value{
			"name":        cty.StringVal(a.Name),
			"layers":      stringList(a.Layers),
			"user":        cty.StringVal(a.User),
			"root":        cty.StringVal(a.Root),
			"current":     cty.StringVal(a.CurrentLink()),
			"shared":      cty.StringVal(a.SharedDir()),
			"releases":    cty.StringVal(a.ReleasesDir()),
			"environment": env,
		})
	}
	return cty.ObjectVal(apps)
}

// layerApps are the values of the apps deployed on the named layer, in
// declaration order.
func (s *Stack) layerApps(layer string) cty.Value {
	all := s.appValues()
	var out []cty.Value
	for _, a := range s.Apps {
		if slices.Contains(a.Layers, layer) {
			out = append(out, all.GetAttr(a.Name))
		}
	}
	if len(out) == 0 {
		return cty.EmptyTupleVal
	}
	return cty.TupleVal(out)
}

// appScope: app arguments are evaluated once at load, like layer settings.
var appScope = scope{what: "App arguments", var_: true, local: true}

var appSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "layers", Required: true},
		{Name: "root"},
		{Name: "user"},
		{Name: "environment"},
		{Name: "shared"},
		{Name: "build"},
		{Name: "migrate"},
		{Name: "keep_releases"},
		{Name: "serial"},
		{Name: "max_fail_percentage"},
		{Name: "rollback_on_failure"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "source"}, {Type: "health_check"}},
}

var sourceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: SourceGit}, {Name: "ref"},
		{Name: SourceArchive}, {Name: "sha256"}, {Name: "strip_components"},
		{Name: SourceLocal}, {Name: "local_build"},
	},
}

var healthSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "http"}, {Name: "port"}, {Name: "command"},
		{Name: "timeout"}, {Name: "retries"}, {Name: "interval"},
	},
}

var (
	envName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	// userName is what useradd accepts, give or take: it keeps shell
	// metacharacters out of the commands that run as the user.
	userName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)
	percent  = regexp.MustCompile(`^\s*([0-9]+)\s*%\s*$`)
)

// decodeApps reads the app blocks, after the layers they name.
func (l *loader) decodeApps(blocks []*hcl.Block) {
	for _, b := range blocks {
		name := b.Labels[0]
		if !hclsyntax.ValidIdentifier(name) {
			l.add(invalidName("app", name, b))
			continue
		}
		if prev := l.s.App(name); prev != nil {
			l.add(l.duplicate("app", name, prev.DeclRange, b.DefRange, "app names must be unique within a stack"))
			continue
		}
		l.s.Apps = append(l.s.Apps, l.decodeApp(name, b))
	}
	l.checkAppRoots()
}

func (l *loader) decodeApp(name string, b *hcl.Block) *App {
	app := &App{Name: name, Root: "/srv/" + name, KeepReleases: 5, DeclRange: b.DefRange}
	content, ds := b.Body.Content(appSchema)
	l.add(ds...)
	attrs := content.Attributes
	if a, ok := attrs["layers"]; ok {
		app.Layers = l.appLayers(a)
	}
	if a, ok := attrs["root"]; ok {
		if root, ok := l.appRoot(a); ok {
			app.Root = root
		}
	}
	if a, ok := attrs["user"]; ok {
		if user, ok := l.appString(a); ok {
			if user != "" && !userName.MatchString(user) {
				l.add(errAt(a.Expr.Range(), "Invalid user",
					fmt.Sprintf("%q is not a user name; give an account name like \"www-data\", or leave user out to run as root.", user)))
			} else {
				app.User = user
			}
		}
	}
	if a, ok := attrs["environment"]; ok {
		app.Environment, app.envFailed = l.appEnvironment(a)
	}
	if a, ok := attrs["shared"]; ok {
		app.Shared = l.appShared(a)
	}
	if a, ok := attrs["build"]; ok {
		app.Build, _ = l.appString(a)
	}
	if a, ok := attrs["migrate"]; ok {
		app.Migrate, _ = l.appString(a)
	}
	if a, ok := attrs["keep_releases"]; ok {
		if n, ok := l.appInt(a, 1, 1000); ok {
			app.KeepReleases = n
		}
	}
	if a, ok := attrs["serial"]; ok {
		app.Serial = l.appSerial(a)
	}
	if a, ok := attrs["max_fail_percentage"]; ok {
		if n, ok := l.appInt(a, 0, 100); ok {
			app.MaxFailPercentage = n
		}
	}
	if a, ok := attrs["rollback_on_failure"]; ok && l.appRefs(a) {
		if v, ok := l.evalAttr(a, l.loadContext(), cty.Bool); ok {
			app.RollbackOnFailure = v.True()
		}
	}

	var sources, checks []*hcl.Block
	for _, blk := range content.Blocks {
		if blk.Type == "source" {
			sources = append(sources, blk)
		} else {
			checks = append(checks, blk)
		}
	}
	if len(sources) == 0 {
		l.add(errAt(b.DefRange, "Missing source block",
			fmt.Sprintf("App %q needs a source block saying where its code comes from: source { git = \"URL\" }, or one with archive = \"URL\" and its sha256, or one with path = \"./dir\".", name)))
	}
	for i, sb := range sources {
		if i > 0 {
			l.add(l.secondBlock("source", name, sources[0], sb))
			continue
		}
		app.Source = l.appSource(sb)
	}
	for i, hb := range checks {
		if i > 0 {
			l.add(l.secondBlock("health_check", name, checks[0], hb))
			continue
		}
		app.HealthCheck = l.appHealthCheck(hb)
	}
	return app
}

// errAt is an error diagnostic at rng.
func errAt(rng hcl.Range, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()}
}

// secondBlock reports a block given again where an app takes one.
func (l *loader) secondBlock(kind, app string, first, again *hcl.Block) *hcl.Diagnostic {
	return errAt(again.DefRange, "Duplicate "+kind+" block",
		fmt.Sprintf("App %q takes one %s block; the first is at %s.", app, kind, l.s.at(first.DefRange)))
}

// appRefs checks the references of an app argument: var, local, stack and
// functions, but not host or layer, since apps are evaluated once.
func (l *loader) appRefs(a *hcl.Attribute) bool {
	ds := checkRefs(a.Expr, appScope, l.loadNames())
	l.add(ds...)
	return !ds.HasErrors()
}

// appInt evaluates a whole number in [lo, hi].
func (l *loader) appInt(a *hcl.Attribute, lo, hi int) (int, bool) {
	if !l.appRefs(a) {
		return 0, false
	}
	return l.evalInt(a, l.loadContext(), lo, hi)
}

// appValue evaluates an app argument at load, marks kept. ok is false when
// there is nothing usable: an error (reported), null, or a value left
// unknown by a failed variable (reported already).
func (l *loader) appValue(a *hcl.Attribute) (cty.Value, bool) {
	if !l.appRefs(a) {
		return cty.NilVal, false
	}
	v, ds := a.Expr.Value(l.loadContext())
	l.add(ds...)
	if ds.HasErrors() || v.IsNull() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

// appPlain evaluates an app argument that ends up in plain text (paths,
// commands, the source), converted to want. A sensitive value is refused:
// these are shown in plans and logs and stored in the state.
func (l *loader) appPlain(a *hcl.Attribute, want cty.Type) (cty.Value, bool) {
	v, ok := l.appValue(a)
	if !ok {
		return cty.NilVal, false
	}
	if v.ContainsMarked() {
		l.add(errAt(a.Expr.Range(), "Sensitive value not allowed",
			fmt.Sprintf("The app argument %q is shown in plans and logs and kept in the state, so it cannot use a sensitive value; pass secrets through environment, which is written to the release's .env and never shown.", a.Name)))
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		l.add(typeError(a, err, want))
		return cty.NilVal, false
	}
	return cv, true
}

func (l *loader) appString(a *hcl.Attribute) (string, bool) {
	v, ok := l.appPlain(a, cty.String)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

// appStrings evaluates a list of strings, with the range of each entry
// when the list is written out, else the whole expression's.
func (l *loader) appStrings(a *hcl.Attribute) ([]string, []hcl.Range, bool) {
	v, ok := l.appPlain(a, cty.List(cty.String))
	if !ok {
		return nil, nil, false
	}
	exprs, ds := hcl.ExprList(a.Expr)
	var out []string
	var rngs []hcl.Range
	for i, e := range v.AsValueSlice() {
		rng := a.Expr.Range()
		if !ds.HasErrors() && len(exprs) == v.LengthInt() {
			rng = exprs[i].Range()
		}
		if e.IsNull() {
			l.add(errAt(rng, "Incorrect attribute value type",
				fmt.Sprintf("Each entry of %s is a string; entry %d is null.", a.Name, i+1)))
			return nil, nil, false
		}
		out = append(out, e.AsString())
		rngs = append(rngs, rng)
	}
	return out, rngs, true
}

// appLayers reads layers: declared layer names, at least one, each once.
func (l *loader) appLayers(a *hcl.Attribute) []string {
	names, rngs, ok := l.appStrings(a)
	if !ok {
		return nil
	}
	if len(names) == 0 {
		l.add(errAt(a.Expr.Range(), "Invalid layers",
			`An app is deployed to the instances of its layers; name at least one, like layers = ["app"].`))
		return nil
	}
	var declared []string
	for _, ly := range l.s.Layers {
		declared = append(declared, ly.Name)
	}
	var out []string
	for i, name := range names {
		switch {
		case !slices.Contains(declared, name):
			l.add(errAt(rngs[i], "Unknown layer",
				fmt.Sprintf("No layer named %q is declared; declare it with layer %q { ... } or name a declared one.%s", name, name, didYouMean(name, declared))))
		case slices.Contains(out, name):
			l.add(errAt(rngs[i], "Duplicate layer",
				fmt.Sprintf("Layer %q is already in this app's layers; name each layer once.", name)))
		default:
			out = append(out, name)
		}
	}
	return out
}

// hasDotDot reports whether a slash-separated path has a ".." element.
func hasDotDot(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "..")
}

// appRoot reads root: an absolute directory, returned cleaned.
func (l *loader) appRoot(a *hcl.Attribute) (string, bool) {
	root, ok := l.appString(a)
	if !ok {
		return "", false
	}
	clean := path.Clean(root)
	if !path.IsAbs(root) || hasDotDot(root) || clean == "/" {
		l.add(errAt(a.Expr.Range(), "Invalid root",
			fmt.Sprintf("An app's root is the absolute directory holding its releases, like \"/srv/shop\", without \"..\" and not \"/\"; %q is not.", root)))
		return "", false
	}
	return clean, true
}

// checkAppRoots reports apps whose roots are the same directory or one
// inside the other: their releases and current links would collide.
func (l *loader) checkAppRoots() {
	for i, a := range l.s.Apps {
		for _, b := range l.s.Apps[:i] {
			if a.Root == b.Root || strings.HasPrefix(a.Root, b.Root+"/") || strings.HasPrefix(b.Root, a.Root+"/") {
				l.add(errAt(a.DeclRange, "Conflicting app roots",
					fmt.Sprintf("App %q has root %s and app %q (at %s) has root %s: one app's releases would land in the other's; give each app a directory of its own.", a.Name, a.Root, b.Name, l.s.at(b.DeclRange), b.Root)))
			}
		}
	}
}

// appEnvironment reads environment: a map of variable names to strings,
// numbers and bools made strings, marks kept so secrets stay hidden.
// failed is true when anything in it was wrong or unknown.
func (l *loader) appEnvironment(a *hcl.Attribute) (env map[string]cty.Value, failed bool) {
	if !l.appRefs(a) {
		return nil, true
	}
	v, ds := a.Expr.Value(l.loadContext())
	l.add(ds...)
	switch {
	case ds.HasErrors() || !v.IsWhollyKnown():
		return nil, true
	case v.IsNull():
		return nil, false
	}
	top, topMarks := v.Unmark()
	if ty := top.Type(); !ty.IsObjectType() && !ty.IsMapType() {
		l.add(errAt(a.Expr.Range(), "Incorrect attribute value type",
			fmt.Sprintf("An app's environment maps variable names to strings, like environment = { PORT = \"8080\" }, not %s.", typeName(ty))))
		return nil, true
	}
	// Where each entry is written, when the map is written out.
	keyRng, valRng := map[string]hcl.Range{}, map[string]hcl.Range{}
	if pairs, ds := hcl.ExprMap(a.Expr); !ds.HasErrors() {
		ctx := l.loadContext()
		for _, p := range pairs {
			if k, ds := p.Key.Value(ctx); !ds.HasErrors() && k.Type() == cty.String && k.IsKnown() && !k.IsNull() && !k.IsMarked() {
				keyRng[k.AsString()], valRng[k.AsString()] = p.Key.Range(), p.Value.Range()
			}
		}
	}
	at := func(m map[string]hcl.Range, k string) hcl.Range {
		if r, ok := m[k]; ok {
			return r
		}
		return a.Expr.Range()
	}
	env = map[string]cty.Value{}
	for k, ev := range top.AsValueMap() {
		if !envName.MatchString(k) {
			l.add(errAt(at(keyRng, k), "Invalid environment variable name",
				fmt.Sprintf("%q cannot be an environment variable: a name starts with a letter or '_' and has only letters, digits and '_'.", k)))
			failed = true
			continue
		}
		raw, marks := ev.UnmarkDeep()
		sv, err := convert.Convert(raw, cty.String)
		if err != nil || sv.IsNull() {
			why := "null"
			if err != nil {
				why = typeName(raw.Type())
			}
			l.add(errAt(at(valRng, k), "Invalid environment value",
				fmt.Sprintf("The value of %s is %s; an environment variable takes a string, a number or a bool.", k, why)))
			failed = true
			continue
		}
		env[k] = sv.WithMarks(marks, topMarks)
	}
	return env, failed
}

// appShared reads shared: directories relative to a release, each once.
func (l *loader) appShared(a *hcl.Attribute) []string {
	dirs, rngs, ok := l.appStrings(a)
	if !ok {
		return nil
	}
	var out []string
	for i, dir := range dirs {
		clean := path.Clean(dir)
		switch {
		case dir == "" || path.IsAbs(dir) || hasDotDot(dir) || clean == ".":
			l.add(errAt(rngs[i], "Invalid shared directory",
				fmt.Sprintf("A shared directory is a path inside the release, like \"log\" or \"tmp/pids\": not empty, not absolute, without \"..\"; %q is not.", dir)))
		case slices.Contains(out, clean):
			l.add(errAt(rngs[i], "Duplicate shared directory",
				fmt.Sprintf("%q is already shared; list each directory once.", dir)))
		default:
			out = append(out, clean)
		}
	}
	return out
}

// appSerial reads serial: a number of hosts, or "N%" of them.
func (l *loader) appSerial(a *hcl.Attribute) Serial {
	v, ok := l.appValue(a)
	if !ok {
		return Serial{}
	}
	v, _ = v.UnmarkDeep()
	if v.Type() == cty.String {
		if m := percent.FindStringSubmatch(v.AsString()); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n >= 1 && n <= 100 {
				return Serial{Percent: n}
			}
		}
	}
	if nv, err := convert.Convert(v, cty.Number); err == nil {
		bf := nv.AsBigFloat()
		if n, acc := bf.Int64(); bf.IsInt() && acc == big.Exact && n >= 1 && n <= 1<<20 {
			return Serial{Count: int(n)}
		}
	}
	l.add(errAt(a.Expr.Range(), "Invalid serial",
		fmt.Sprintf("serial is %s; it is a number of hosts per batch, a whole number of at least 1 (serial = 2), or a percentage of them from \"1%%\" to \"100%%\" (serial = \"25%%\").", shownValue(v))))
	return Serial{}
}

// appSource reads the source block: exactly one of git, archive and path.
func (l *loader) appSource(b *hcl.Block) AppSource {
	src := AppSource{DeclRange: b.DefRange}
	content, ds := b.Body.Content(sourceSchema)
	l.add(ds...)
	attrs := content.Attributes
	var kinds []*hcl.Attribute
	for _, k := range []string{SourceGit, SourceArchive, SourceLocal} {
		if a, ok := attrs[k]; ok {
			kinds = append(kinds, a)
		}
	}
	slices.SortFunc(kinds, func(x, y *hcl.Attribute) int { return x.Range.Start.Byte - y.Range.Start.Byte })
	switch len(kinds) {
	case 0:
		l.add(errAt(b.DefRange, "Missing source",
			`A source block gives one of git = "URL", archive = "URL" (with sha256) or path = "./dir".`))
		return src
	case 1:
	default:
		for _, a := range kinds[1:] {
			l.add(errAt(a.NameRange, "Conflicting source",
				fmt.Sprintf("This source already has %s at %s; a source block gives exactly one of git, archive and path.", kinds[0].Name, l.s.at(kinds[0].Range))))
		}
		return src
	}
	kind := kinds[0]
	src.Kind = kind.Name
	// Arguments that belong to another kind of source are mistakes, not
	// settings to ignore.
	only := map[string]string{"ref": SourceGit, "sha256": SourceArchive, "strip_components": SourceArchive, "local_build": SourceLocal}
	for _, name := range []string{"ref", "sha256", "strip_components", "local_build"} {
		if a, ok := attrs[name]; ok && only[name] != src.Kind {
			l.add(errAt(a.NameRange, "Argument not valid for this source",
				fmt.Sprintf("%s applies to %s sources only, and this source uses %s; remove it.", name, only[name], src.Kind)))
		}
	}
	// The other arguments are checked even when the main one failed, so
	// that every mistake is reported at once.
	value, ok := l.appString(kind)
	switch src.Kind {
	case SourceGit:
		src.Ref = "HEAD"
		if ok && (strings.TrimSpace(value) == "" || strings.HasPrefix(value, "-")) {
			l.add(errAt(kind.Expr.Range(), "Invalid git URL",
				fmt.Sprintf("git is the repository to clone, like \"https://git.example.com/shop.git\" or \"git@git.example.com:shop.git\"; %q is not.", value)))
		}
		src.URL = value
		if a, ok := attrs["ref"]; ok {
			if ref, ok := l.appString(a); ok {
				if !ValidGitRef(ref) {
					l.add(errAt(a.Expr.Range(), "Invalid ref",
						fmt.Sprintf("ref is a branch, tag or commit, like \"main\", \"v1.4.0\" or a commit hash; %q is not one.", ref)))
				} else {
					src.Ref = ref
				}
			}
		}
	case SourceArchive:
		src.URL = value
		if u, err := url.Parse(value); ok && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			l.add(errAt(kind.Expr.Range(), "Invalid archive URL",
				fmt.Sprintf("archive is an http or https URL of a tarball, like \"https://example.com/shop-1.4.tar.gz\"; %q is not.", value)))
		}
		if a, ok := attrs["sha256"]; !ok {
			l.add(errAt(kind.NameRange, "Missing sha256",
				"An archive source must say the archive's sha256, so that what is deployed is exactly what was meant; add sha256 = \"<64 hex digits>\" (sha256sum prints it)."))
		} else if sum, ok := l.appString(a); ok {
			if !sha256Hex.MatchString(sum) {
				l.add(errAt(a.Expr.Range(), "Invalid sha256",
					fmt.Sprintf("sha256 is the archive's SHA-256 digest, 64 hexadecimal digits as sha256sum prints it; %q is not.", sum)))
			} else {
				src.SHA256 = strings.ToLower(sum)
			}
		}
		if a, ok := attrs["strip_components"]; ok {
			if n, ok := l.appInt(a, 0, 100); ok {
				src.StripComponents = n
			}
		}
	case SourceLocal:
		if !ok {
			break
		}
		dir := value
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(l.s.Dir, dir)
		}
		dir = filepath.Clean(dir)
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() {
			why := "is not a directory"
			if err != nil {
				why = "does not exist or cannot be read: " + unwrapPathError(err).Error()
			}
			l.add(errAt(kind.Expr.Range(), "Invalid source path",
				fmt.Sprintf("path is a directory on this machine, relative to the stack directory; %s %s. Give the app's directory.", dir, why)))
		}
		src.Path = dir
		if a, ok := attrs["local_build"]; ok {
			if cmd, ok := l.appString(a); ok {
				if strings.TrimSpace(cmd) == "" {
					l.add(errAt(a.Expr.Range(), "Empty local_build", "local_build is a shell command run in the source directory on this machine before it is shipped, like \"go build -o bin/app .\"; remove it or give one."))
				}
				src.LocalBuild = cmd
			}
		}
	}
	return src
}

// ValidGitRef reports whether ref can name a git branch, tag or commit
// and be passed to git safely: not empty, not an option, none of the
// characters git refuses, no "..".
func ValidGitRef(ref string) bool {
	return ref != "" && !strings.HasPrefix(ref, "-") && !strings.ContainsFunc(ref, invalidRefRune) && !strings.Contains(ref, "..")
}

// invalidRefRune reports runes git refuses in ref names (git
// check-ref-format), which would also need quoting in a shell.
func invalidRefRune(r rune) bool {
	return r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r)
}

// appHealthCheck reads the health_check block: exactly one of http and
// command, and how long and how often to try.
func (l *loader) appHealthCheck(b *hcl.Block) *HealthCheck {
	hc := &HealthCheck{Timeout: 5 * time.Second, Retries: 5, Interval: 2 * time.Second, DeclRange: b.DefRange}
	content, ds := b.Body.Content(healthSchema)
	l.add(ds...)
	attrs := content.Attributes
	httpA, hasHTTP := attrs["http"]
	cmdA, hasCmd := attrs["command"]
	portA, hasPort := attrs["port"]
	switch {
	case !hasHTTP && !hasCmd:
		l.add(errAt(b.DefRange, "Missing health check",
			`A health_check block gives http = "/health" (a path or a URL) or command = "..." to run on the instance.`))
	case hasHTTP && hasCmd:
		second := cmdA
		if cmdA.Range.Start.Byte < httpA.Range.Start.Byte {
			second = httpA
		}
		l.add(errAt(second.NameRange, "Conflicting health check",
			"A health_check block gives either http or command, not both; keep one."))
	case hasCmd:
		if hasPort {
			l.add(unexpectedPort(portA, "a command check"))
		}
		if cmd, ok := l.appString(cmdA); ok {
			if strings.TrimSpace(cmd) == "" {
				l.add(errAt(cmdA.Expr.Range(), "Invalid health check command",
					"command is the shell command that succeeds when the app is healthy; it is empty."))
			}
			hc.Command = cmd
		}
	default:
		hc.URL = l.healthURL(httpA, portA)
	}
	if a, ok := attrs["timeout"]; ok {
		hc.Timeout = l.appDuration(a, hc.Timeout, false)
	}
	if a, ok := attrs["interval"]; ok {
		hc.Interval = l.appDuration(a, hc.Interval, true)
	}
	if a, ok := attrs["retries"]; ok {
		if n, ok := l.appInt(a, 0, 10000); ok {
			hc.Retries = n
		}
	}
	return hc
}

// healthURL reads http: a path on 127.0.0.1:port, or a full http(s) URL
// (and then no port). portA is nil when port is not given.
func (l *loader) healthURL(httpA, portA *hcl.Attribute) string {
	port := 80
	if portA != nil {
		if n, ok := l.appInt(portA, 1, 65535); ok {
			port = n
		}
	}
	target, ok := l.appString(httpA)
	if !ok {
		return ""
	}
	if strings.HasPrefix(target, "/") {
		return fmt.Sprintf("http://127.0.0.1:%d%s", port, target)
	}
	if u, err := url.Parse(target); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		if portA != nil {
			l.add(unexpectedPort(portA, "a full URL, which carries its own port"))
		}
		return target
	}
	l.add(errAt(httpA.Expr.Range(), "Invalid health check URL",
		fmt.Sprintf("http is a path on the instance, like \"/health\" (then asked of 127.0.0.1 on port, 80 by default), or a full URL like \"http://127.0.0.1:8080/health\"; %q is neither.", target)))
	return ""
}

// unexpectedPort reports port given where it does not apply.
func unexpectedPort(a *hcl.Attribute, with string) *hcl.Diagnostic {
	return errAt(a.NameRange, "Unexpected port",
		fmt.Sprintf("port applies to an http check given as a path; this is %s. Remove port.", with))
}

// appDuration reads a duration ("5s" or a number of seconds); zero is
// allowed only when zeroOK. On error, def stays.
func (l *loader) appDuration(a *hcl.Attribute, def time.Duration, zeroOK bool) time.Duration {
	v, ok := l.appValue(a)
	if !ok {
		return def
	}
	v, _ = v.UnmarkDeep()
	d, ok := parseDuration(v)
	if ok && (d > 0 || zeroOK) {
		return d
	}
	least := "greater than zero"
	if zeroOK {
		least = "zero or more"
	}
	l.add(errAt(a.Expr.Range(), "Invalid "+a.Name,
		fmt.Sprintf("%s is %s; it must be a duration like \"5s\" or \"1m30s\" (or a number of seconds), %s.", a.Name, shownValue(v), least)))
	return def
}

// shownValue writes an unmarked value the way it would be written in a
// stack file, for diagnostics.
func shownValue(v cty.Value) string {
	switch v.Type() {
	case cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case cty.Number:
		return v.AsBigFloat().Text('g', 10)
	case cty.Bool:
		return fmt.Sprint(v.True())
	}
	return typeName(v.Type())
}
