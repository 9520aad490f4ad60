// Package git is the `git` resource type: a git checkout at a branch, a
// tag or a pinned commit, updated when the remote moves, or its absence.
package git

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
	"github.com/opsrun/opsrun/modules/internal/secret"
)

// Type is the `git` resource type.
func Type() *modules.Type {
	return &modules.Type{
		Name: "git",
		Doc: "A git checkout on the host at a branch, a tag or a pinned commit. Each run asks the remote " +
			"which commit the ref points at (git ls-remote, no download) and fetches and checks out only " +
			"when HEAD must move, so a run reports a change only when HEAD moves (or origin's URL or local " +
			"changes are fixed). Local changes to tracked files are an error unless force = true discards " +
			"them. A branch is checked out as a local branch of the same name; a tag, another ref or a " +
			"commit as a detached HEAD. git must be installed on the host (install it with a package " +
			"resource first).",
		Attrs: schema(),
		New:   New,
	}
}

func schema() []modules.Attr {
	return []modules.Attr{
		{Name: "repository", Type: cty.String, Required: true,
			Doc: "The repository to clone: an https://, http://, ssh://, git:// or file:// URL, an scp-like " +
				"address (git@host:path) or an absolute path on the host. Take a URL holding a token from a " +
				"sensitive variable: it is then never shown in plan output or errors (it is stored in the " +
				"checkout's .git/config, as git does).",
			Example: `"https://github.com/example/app.git"`},
		{Name: "path", Type: cty.String, Required: true,
			Doc: "Absolute path of the checkout. It is created (with missing parent directories) when absent; " +
				"an existing empty directory is cloned into; anything else there that is not a checkout is an error. " +
				"With user, the parent directory must be writable by that user.",
			Example: `"/srv/app"`},
		{Name: "ref", Type: cty.String,
			Doc: "Branch or tag to check out, or a full ref name (\"refs/pull/7/head\"). A name that is both " +
				"a branch and a tag means the branch. Null follows the remote's default branch (its HEAD). " +
				"Cannot be combined with commit.",
			Example: `"main"`},
		{Name: "commit", Type: cty.String,
			Doc: "A full commit id (40 hex digits, 64 for a SHA-256 repository) to check out as a detached " +
				"HEAD. The remote is not asked anything until HEAD differs; the commit is then fetched by its " +
				"id, which the git hosts and git's own protocol v2 allow. Cannot be combined with ref.",
			Example: `"3f2a9c1e0b7d4a5f6e8c9b0a1d2e3f4a5b6c7d8e"`},
		{Name: "depth", Type: cty.Number,
			Doc: "Fetch only this many commits of history (a shallow clone), for the clone and each " +
				"update: smaller and faster for a deploy. Null fetches the whole history.",
			Example: `1`},
		{Name: "ssh_key_file", Type: cty.String,
			Doc: "Absolute path on the host of a private key (a deploy key) for an ssh repository, readable " +
				"by user. git then runs ssh with this key only (IdentitiesOnly), never prompting.",
			Example: `"/home/deploy/.ssh/app_deploy_key"`},
		{Name: "accept_hostkey", Type: cty.Bool, Default: cty.True,
			Doc: "For an ssh repository: true accepts and remembers the server's host key the first time " +
				"(StrictHostKeyChecking=accept-new), and refuses it if it ever changes; false requires it to " +
				"be in known_hosts already.",
			Example: `false`},
		{Name: "user", Type: cty.String,
			Doc: "Run git as this user (through runuser, as root), so the checkout is owned by that user, " +
				"and the user's ssh configuration and known_hosts apply. git refuses to work in a checkout " +
				"owned by another user, so keep the same user for a path. Null runs git as root.",
			Example: `"deploy"`},
		{Name: "force", Type: cty.Bool, Default: cty.False,
			Doc: "true: discard local changes to tracked files (git checkout -f, git reset --hard), " +
				"reporting a change. false: local changes are an error, and nothing is touched. Untracked " +
				"files are left alone either way.",
			Example: `true`},
		{Name: "state", Type: cty.String, Default: cty.StringVal("present"),
			Doc: "present: the checkout exists at the declared ref or commit. absent: the checkout's directory " +
				"is removed with everything in it; a path that is not a checkout (no .git) is refused.",
			Example: `"absent"`},
	}
}

// resource is a checkout configured for one host.
type resource struct {
	repo   string
	path   string
	ref    string // "" with a commit: "HEAD" when neither is set
	commit string
	depth  int
	key    string
	accept bool
	user   string
	force  bool
	state  string
	hidden bool // the repository or the key path is sensitive
	// hideRepo and hideKey say which: a sensitive key path need not hide
	// the repository in summaries.
	hideRepo, hideKey bool
	// unknown is the error naming attributes whose value is not known
	// yet (validate): Plan refuses them.
	unknown error
}

// New validates c and builds a git resource.
func New(c modules.Config) (modules.Resource, error) {
	r := attr.NewReader(c, schema())
	res := &resource{
		repo:     r.Required("repository"),
		path:     r.AbsPath("path", true),
		key:      r.AbsPath("ssh_key_file", false),
		user:     r.Account("user"),
		state:    r.OneOf("state", "present", "absent"),
		hideRepo: c.Sensitive["repository"],
		hideKey:  c.Sensitive["ssh_key_file"],
	}
	res.hidden = res.hideRepo || res.hideKey
	res.unknown = attr.Unknown(c)
	res.accept, _ = r.Bool("accept_hostkey")
	res.force, _ = r.Bool("force")
	if res.path == "/" {
		r.Errorf("path", "\"/\" cannot be a checkout")
	}
	if res.repo != "" {
		if err := checkRepo(res.repo); err != nil {
			r.Errorf("repository", "%s %v", r.Quote("repository", res.repo), err)
		}
	}
	ref, hasRef := r.String("ref")
	commit, hasCommit := r.String("commit")
	switch {
	case hasRef && hasCommit:
		r.Errorf("commit", "cannot be combined with ref: pin a commit or follow a ref")
	case hasCommit:
		if !facts.IsObjectID(commit) {
			r.Errorf("commit", "%q is not a full commit id (40 hex digits, or 64 for a SHA-256 repository); "+
				"abbreviated ids are not accepted, as they may become ambiguous", commit)
		}
		res.commit = strings.ToLower(commit)
	case hasRef:
		if !validRef(ref) {
			r.Errorf("ref", "%q is not a branch, tag or ref name git accepts", ref)
		}
		res.ref = ref
	default:
		res.ref = "HEAD"
	}
	res.depth = r.Int("depth", 1, 1<<31-1)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// repoSchemes are the URL schemes git clones from. Others (ext::,
// fd::, a remote helper) are refused: ext:: runs a command.
var repoSchemes = map[string]bool{"https": true, "http": true, "ssh": true, "git": true, "file": true, "git+ssh": true, "ssh+git": true}

// scpRE is git's scp-like syntax, [user@]host:path, with no slash before
// the colon (git's own rule for telling it from a local path).
var scpRE = regexp.MustCompile(`^([A-Za-z0-9._~+-]+@)?[A-Za-z0-9.-]+:[^:]`)

// checkRepo checks a repository; the error completes a sentence about it.
func checkRepo(s string) error {
	switch {
	case strings.ContainsFunc(s, func(c rune) bool { return c < ' ' || c == 0x7f }):
		return errors.New("contains control characters")
	case strings.HasPrefix(s, "-"):
		return errors.New("starts with -, which git would read as an option")
	case strings.Contains(s, "://"):
		scheme, rest, _ := strings.Cut(s, "://")
		if !repoSchemes[strings.ToLower(scheme)] {
			return fmt.Errorf("has scheme %s; use https, http, ssh, git or file", scheme)
		}
		if strings.ToLower(scheme) != "file" && (rest == "" || rest[0] == '/') {
			return errors.New("has no host")
		}
		if strings.ContainsAny(s, " \t") {
			return errors.New("contains white space")
		}
		return nil
	case strings.HasPrefix(s, "/"):
		return nil
	case !strings.Contains(s, "::") && scpRE.MatchString(s) && !strings.ContainsAny(s, " \t"):
		return nil
	}
	return errors.New("is not a repository URL (https://, ssh://, git://, file://), an scp-like address (git@host:path) or an absolute path")
}

// isSSH reports whether git reaches repo through ssh.
func isSSH(repo string) bool {
	if scheme, _, ok := strings.Cut(repo, "://"); ok {
		s := strings.ToLower(scheme)
		return s == "ssh" || s == "git+ssh" || s == "ssh+git"
	}
	return !strings.HasPrefix(repo, "/")
}

// validRef follows git-check-ref-format(1): no control characters, space,
// ~ ^ : ? * [ \, no "..", "@{" or "//", no leading "-" (an option) and no
// trailing "/", "." or ".lock".
func validRef(s string) bool {
	if s == "" || s == "@" || s[0] == '-' || s[0] == '/' || strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".") ||
		strings.HasSuffix(s, ".lock") || strings.Contains(s, "..") || strings.Contains(s, "@{") || strings.Contains(s, "//") ||
		strings.Contains(s, "/.") || s[0] == '.' {
		return false
	}
	return !strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f || strings.ContainsRune("~^:?*[\\", c) })
}

// env is what git's commands need in their environment: never a prompt
// for a password (the probe and the run have no terminal), and for ssh
// the deploy key, batch mode and the host key policy.
func (res *resource) env() []string {
	if res.key == "" && !isSSH(res.repo) {
		return nil
	}
	ssh := "ssh"
	if res.key != "" {
		ssh += " -i " + transport.ShellQuote(res.key) + " -o IdentitiesOnly=yes"
	}
	ssh += " -o BatchMode=yes -o StrictHostKeyChecking="
	if res.accept {
		ssh += "accept-new"
	} else {
		ssh += "yes"
	}
	return []string{"GIT_SSH_COMMAND=" + ssh}
}

func (res *resource) probe() modules.Probe {
	return facts.GitProbe(facts.GitQuery{
		Path: res.path, Repo: res.repo, Ref: res.ref, User: res.user,
		Env: res.env(), KeyFile: res.key, Sensitive: res.hidden,
	})
}

// Probes asks for the checkout's state and, following a ref, the remote's
// commit for it; for absent, whether path is a checkout.
func (res *resource) Probes(*modules.Host) []modules.Probe {
	if res.state == "absent" {
		return []modules.Probe{facts.StatProbe(res.path), facts.StatProbe(res.path + "/.git")}
	}
	return []modules.Probe{res.probe()}
}

// Plan clones, moves HEAD, fixes origin or discards local changes, as
// needed.
func (res *resource) Plan(h *modules.Host, f modules.Facts) ([]modules.Action, error) {
	if res.unknown != nil {
		return nil, res.unknown
	}
	if res.state == "absent" {
		return res.planAbsent(f)
	}
	r, err := facts.Get(f, res.probe())
	if err != nil {
		return nil, err
	}
	g, err := facts.ParseGit(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", res.path, err)
	}
	switch g.Missing {
	case "git":
		return nil, fmt.Errorf("git is not installed on the host: install git first (a package resource before this one): %w", modules.ErrMissingOnHost)
	case "runuser":
		return nil, fmt.Errorf("runuser (util-linux) is not installed on the host; it runs git as %s: %w", res.user, modules.ErrMissingOnHost)
	case "key":
		return nil, fmt.Errorf("ssh_key_file %s does not exist or is not readable by %s: %w", res.showKey(), res.runAs(), modules.ErrMissingOnHost)
	}
	if g.Error != "" {
		return nil, fmt.Errorf("%s: %s", res.path, res.redact(g.Error))
	}
	switch g.Path {
	case facts.GitPathOther:
		return nil, fmt.Errorf("%s exists and is not a directory", res.path)
	case facts.GitPathDir:
		return nil, fmt.Errorf("%s is a directory that is neither empty nor a git checkout (no .git); remove it or choose another path", res.path)
	}
	t, err := res.target(g.Remote)
	if err != nil {
		return nil, err
	}
	if g.Path == facts.GitPathAbsent || g.Path == facts.GitPathEmpty {
		return []modules.Action{res.action(
			fmt.Sprintf("clone %s into %s (%s %s)", res.showRepo(), res.path, t.what, short(t.commit)),
			"git init -q "+transport.ShellQuote(res.path)+" && "+res.git("remote", "add", "--", "origin", res.repo)+" && "+res.update(t, false))}, nil
	}
	if g.Dirty && !res.force {
		return nil, fmt.Errorf("%s has local changes to tracked files: commit or discard them, or set force = true to discard them on every run", res.path)
	}
	var acts []modules.Action
	switch g.Origin {
	case "none":
		acts = append(acts, res.action(fmt.Sprintf("add origin %s to %s", res.showRepo(), res.path), res.git("remote", "add", "--", "origin", res.repo)))
	case "other":
		acts = append(acts, res.action(fmt.Sprintf("change origin of %s to %s", res.path, res.showRepo()), res.git("remote", "set-url", "--", "origin", res.repo)))
	}
	discard := ""
	if g.Dirty {
		discard = ", discarding local changes"
	}
	switch {
	case g.Head == "":
		acts = append(acts, res.action(fmt.Sprintf("check out %s %s in %s%s", t.what, short(t.commit), res.path, discard), res.update(t, g.Dirty)))
	case g.Head != t.commit:
		acts = append(acts, res.action(fmt.Sprintf("update %s: %s → %s (%s)%s", res.path, short(g.Head), short(t.commit), t.what, discard), res.update(t, g.Dirty)))
	case g.Dirty:
		acts = append(acts, res.action("discard local changes in "+res.path, res.git("reset", "-q", "--hard")))
	}
	return acts, nil
}

// target is the commit to check out and how to get it.
type target struct {
	commit string // full object id
	fetch  string // what git fetch asks origin for: a ref name, or the commit
	branch string // local branch to point at commit; "" for a detached HEAD
	what   string // for summaries: "branch main", "tag v1.2", "pinned commit"
}

// target resolves the declared ref from ls-remote's answer, or takes the
// pinned commit. Branches win over tags of the same name, as in git's
// own ref resolution (refs/heads comes before refs/tags in git-clone -b).
func (res *resource) target(rem *facts.LsRemote) (target, error) {
	if res.commit != "" {
		return target{commit: res.commit, fetch: res.commit, what: "pinned commit"}, nil
	}
	if rem == nil {
		return target{}, errors.New("fact git ls-remote was not gathered")
	}
	peeled := func(name string) (string, bool) {
		if id, ok := rem.Refs[name+"^{}"]; ok {
			return id, true // an annotated tag: the commit it points at
		}
		id, ok := rem.Refs[name]
		return id, ok
	}
	kind := func(name string) (string, string) {
		if b, ok := strings.CutPrefix(name, "refs/heads/"); ok {
			return b, "branch " + b
		}
		if tag, ok := strings.CutPrefix(name, "refs/tags/"); ok {
			return "", "tag " + tag
		}
		return "", "ref " + name
	}
	var names []string
	switch {
	case res.ref == "HEAD":
		id, ok := rem.Refs["HEAD"]
		if !ok {
			return target{}, fmt.Errorf("%s has no HEAD: is it empty? Set ref to a branch or tag", res.showRepo())
		}
		t := target{commit: id, fetch: "HEAD", what: "remote HEAD"}
		if sym := rem.Symrefs["HEAD"]; strings.HasPrefix(sym, "refs/heads/") {
			t.fetch = sym
			t.branch, t.what = kind(sym)
		}
		return t, nil
	case strings.HasPrefix(res.ref, "refs/"):
		names = []string{res.ref}
	default:
		names = []string{"refs/heads/" + res.ref, "refs/tags/" + res.ref}
	}
	for _, n := range names {
		if id, ok := peeled(n); ok {
			t := target{commit: id, fetch: n}
			t.branch, t.what = kind(n)
			return t, nil
		}
	}
	return target{}, fmt.Errorf("%s has no branch or tag %q (git ls-remote lists none)", res.showRepo(), res.ref)
}

// update fetches the target and checks it out; force (local changes
// there to discard) makes checkout -f. A branch is reset to the commit
// (-B), so the checkout is on a branch of the remote's name.
func (res *resource) update(t target, force bool) string {
	fetch := []string{"fetch", "-q"}
	if res.depth > 0 {
		fetch = append(fetch, fmt.Sprintf("--depth=%d", res.depth))
	}
	fetch = append(fetch, "--", "origin", t.fetch)
	co := []string{"checkout", "-q"}
	if force {
		co = append(co, "-f")
	}
	if t.branch != "" {
		co = append(co, "-B", t.branch, t.commit)
	} else {
		co = append(co, "--detach", t.commit)
	}
	return res.git(fetch...) + " && " + res.git(co...)
}

// git is one git command on the checkout.
func (res *resource) git(args ...string) string {
	return "git -C " + transport.ShellQuote(res.path) + " " + transport.ShellJoin(args...)
}

// action wraps script in the environment and user git runs as, and hides
// a sensitive repository in its output when it fails.
func (res *resource) action(summary, script string) modules.Action {
	var env strings.Builder
	env.WriteString("export GIT_TERMINAL_PROMPT=0")
	for _, e := range res.env() {
		env.WriteString(" " + transport.ShellQuote(e))
	}
	script = env.String() + "; " + script
	cmd := script
	if res.user != "" {
		// cd /: git must not start in root's home, which the user
		// cannot read.
		cmd = "cd / && runuser -u " + transport.ShellQuote(res.user) + " -- sh -c " + transport.ShellQuote(script)
	}
	if res.hidden {
		cmd = secret.HideOutput(cmd, res.secrets())
	}
	return modules.Action{Summary: summary, Command: cmd, Sensitive: res.hidden}
}

// planAbsent removes the checkout when there is one.
func (res *resource) planAbsent(f modules.Facts) ([]modules.Action, error) {
	var sts [2]facts.Stat
	for i, p := range []string{res.path, res.path + "/.git"} {
		st, err := facts.GetStat(f, p)
		if err != nil {
			return nil, err
		}
		sts[i] = st
	}
	switch {
	case !sts[0].Exists:
		return nil, nil
	case sts[0].Type != facts.Directory:
		return nil, fmt.Errorf("%s is a %s, not a git checkout; refusing to remove it", res.path, sts[0].Type)
	case !sts[1].Exists:
		return nil, fmt.Errorf("%s is not a git checkout (it has no .git); refusing to remove it", res.path)
	}
	return []modules.Action{{Summary: "remove git checkout " + res.path, Command: "rm -rf -- " + transport.ShellQuote(res.path)}}, nil
}

func (res *resource) showRepo() string {
	if res.hideRepo {
		return "the repository (sensitive URL)"
	}
	return secret.ShowURL(res.repo, false)
}

func (res *resource) showKey() string {
	if res.hideKey {
		return "(sensitive)"
	}
	return res.key
}

func (res *resource) runAs() string {
	if res.user == "" {
		return "root"
	}
	return res.user
}

// secrets are the strings a sensitive resource must not show.
func (res *resource) secrets() []string {
	var s []string
	if res.hideRepo {
		s = secret.URL(res.repo)
	}
	if res.hideKey && res.key != "" {
		s = append(s, res.key)
	}
	return s
}

// redact replaces the secrets in a message from the host.
func (res *resource) redact(msg string) string {
	for _, s := range res.secrets() {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "(sensitive)")
		}
	}
	return msg
}

// short is a commit id as people read it.
func short(id string) string {
	if len(id) > 7 {
		return id[:7]
	}
	return id
}
