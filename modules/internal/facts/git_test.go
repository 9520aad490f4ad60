package facts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/engine/probe"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/modules"
)

// gitEnv keeps the machine's and the user's git configuration out of the
// test repositories, and names the committer.
var gitEnv = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
	"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}

func gitSh(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return strings.TrimSpace(string(out))
}

// probeWith runs probes through each shell as the engine does (one
// script, framed output) and returns the facts per shell.
func probeWith(t *testing.T, ps ...modules.Probe) map[string]modules.Facts {
	t.Helper()
	out := map[string]modules.Facts{}
	for name, c := range local.Shells(t) {
		c.Env = append(c.Env, gitEnv...)
		f, err := probe.Run(context.Background(), c, ps, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = f
	}
	return out
}

// TestGitReal runs the git probe on real checkouts of every state under
// each shell (dash, bash, busybox ash) against a real bare repository.
func TestGitReal(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	gitSh(t, dir, "git init -q --bare 'repo.git' && git -C repo.git symbolic-ref HEAD refs/heads/main && "+
		"git init -q scratch && cd scratch && git checkout -q -b main && echo 1 > f && git add f && git commit -qm one && "+
		"git tag -a v1 -m v1 && git checkout -q -b feature/main && git push -q ../repo.git main feature/main v1")
	bare := filepath.Join(dir, "repo.git")
	head := gitSh(t, dir, "git -C repo.git rev-parse main")
	tagObj := gitSh(t, dir, "git -C repo.git rev-parse v1")
	gitSh(t, dir, "git clone -q repo.git clean && git clone -q repo.git dirty && echo 2 > dirty/f && "+
		"git clone -q repo.git other && git -C other remote set-url origin /elsewhere && "+
		"git init -q unborn && git clone -q repo.git noorigin && git -C noorigin remote remove origin && "+
		"mkdir empty full && echo x > full/x && echo x > file && git clone -q repo.git untracked && echo new > untracked/new")

	type want struct {
		path, ref string
		g         Git
	}
	// origin is compared with the declared repository: bare as a path.
	cases := []want{
		{"absent", "", Git{Path: GitPathAbsent}},
		{"empty", "", Git{Path: GitPathEmpty}},
		{"full", "", Git{Path: GitPathDir}},
		{"file", "", Git{Path: GitPathOther}},
		{"clean", "", Git{Path: GitPathRepo, Head: head, Origin: "same"}},
		{"dirty", "", Git{Path: GitPathRepo, Head: head, Origin: "same", Dirty: true}},
		{"untracked", "", Git{Path: GitPathRepo, Head: head, Origin: "same"}},
		{"other", "", Git{Path: GitPathRepo, Head: head, Origin: "other"}},
		{"noorigin", "", Git{Path: GitPathRepo, Head: head, Origin: "none"}},
		{"unborn", "", Git{Path: GitPathRepo, Origin: "none"}},
		{"clean", "HEAD", Git{Path: GitPathRepo, Head: head, Origin: "same", Remote: &LsRemote{
			Refs: map[string]string{"HEAD": head}, Symrefs: map[string]string{"HEAD": "refs/heads/main"}}}},
		// "main" also matches feature/main: ls-remote matches the end.
		{"absent", "main", Git{Path: GitPathAbsent, Remote: &LsRemote{
			Refs: map[string]string{"refs/heads/main": head, "refs/heads/feature/main": head}, Symrefs: map[string]string{}}}},
		{"absent", "v1", Git{Path: GitPathAbsent, Remote: &LsRemote{
			Refs: map[string]string{"refs/tags/v1": tagObj, "refs/tags/v1^{}": head}, Symrefs: map[string]string{}}}},
		{"absent", "nope", Git{Path: GitPathAbsent, Remote: &LsRemote{Refs: map[string]string{}, Symrefs: map[string]string{}}}},
	}
	var ps []modules.Probe
	for _, c := range cases {
		ps = append(ps, GitProbe(GitQuery{Path: filepath.Join(dir, c.path), Repo: bare, Ref: c.ref}))
	}
	gone := GitProbe(GitQuery{Path: filepath.Join(dir, "absent"), Repo: bare + "-gone", Ref: "HEAD"})
	key := GitProbe(GitQuery{Path: filepath.Join(dir, "absent"), Repo: bare, Ref: "HEAD", KeyFile: filepath.Join(dir, "no key")})
	for shell, f := range probeWith(t, append(ps, gone, key)...) {
		for i, c := range cases {
			g, err := ParseGit(f[ps[i].ID])
			if err != nil || !reflect.DeepEqual(g, c.g) {
				t.Errorf("%s: %s ref %q:\n got %+v (%v)\nwant %+v", shell, c.path, c.ref, g, err, c.g)
			}
		}
		g, err := ParseGit(f[gone.ID])
		if err != nil || !strings.HasPrefix(g.Error, "git ls-remote (exit status 128): fatal: ") || !strings.Contains(g.Error, "does not appear to be a git repository") {
			t.Errorf("%s: missing repository: %+v (%v)", shell, g, err)
		}
		if g, err := ParseGit(f[key.ID]); err != nil || g.Missing != "key" {
			t.Errorf("%s: missing key: %+v (%v)", shell, g, err)
		}
	}
}

// TestGitRealUser runs the probe as another user through runuser: the
// checkout and the repository are that user's, which root's git would
// refuse as dubious ownership.
func TestGitRealUser(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	if _, err := exec.LookPath("runuser"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and runuser")
	}
	dir, err := os.MkdirTemp("", "opsrun-git-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gitSh(t, dir, "git init -q --bare repo.git && git -C repo.git symbolic-ref HEAD refs/heads/main && "+
		"git init -q scratch && cd scratch && git checkout -q -b main && echo 1 > f && git add f && git commit -qm one && "+
		"git push -q ../repo.git main && cd .. && git clone -q repo.git co")
	head := gitSh(t, dir, "git -C repo.git rev-parse main")
	gitSh(t, dir, "chown -R nobody repo.git co")
	q := GitQuery{Path: filepath.Join(dir, "co"), Repo: filepath.Join(dir, "repo.git"), Ref: "main"}
	asRoot := GitProbe(q)
	q.User = "nobody"
	asUser := GitProbe(q)
	for shell, f := range probeWith(t, asRoot, asUser) {
		if g, err := ParseGit(f[asRoot.ID]); err != nil || !strings.Contains(g.Error, "dubious ownership") {
			t.Errorf("%s: as root: %+v (%v), want git's dubious ownership error", shell, g, err)
		}
		g, err := ParseGit(f[asUser.ID])
		if err != nil || g.Head != head || g.Origin != "same" || g.Dirty || g.Remote == nil || g.Remote.Refs["refs/heads/main"] != head {
			t.Errorf("%s: as nobody: %+v (%v)", shell, g, err)
		}
	}
}

func TestParseGit(t *testing.T) {
	const a = "3f2a9c1e0b7d4a5f6e8c9b0a1d2e3f4a5b6c7d8e"
	const b = "9b1c5e7f2a4d6c8e0f1a3b5c7d9e1f2a4b6c8d0e"
	for _, c := range []struct {
		out  string
		want Git
		err  string
	}{
		{"missing git\n", Git{Missing: "git"}, ""},
		{"missing runuser\n", Git{Missing: "runuser"}, ""},
		{"path absent\n", Git{Path: GitPathAbsent}, ""},
		{"path repo\nhead " + strings.ToUpper(a) + "\ndirty yes\norigin other\n", Git{Path: GitPathRepo, Head: a, Dirty: true, Origin: "other"}, ""},
		{"path repo\nhead none\ndirty no\norigin none\n", Git{Path: GitPathRepo, Origin: "none"}, ""},
		{"error git status: fatal: not a git repository\n\nmore\n", Git{Error: "git status: fatal: not a git repository\n\nmore"}, ""},
		{"error \n", Git{Error: "(no message)"}, ""},
		// ls-remote: a symbolic ref, refs, and stderr ignored on success.
		{"path absent\nls-remote\nref: refs/heads/main\tHEAD\n" + b + "\tHEAD\nstatus 0\nWarning: Permanently added\n",
			Git{Path: GitPathAbsent, Remote: &LsRemote{Refs: map[string]string{"HEAD": b}, Symrefs: map[string]string{"HEAD": "refs/heads/main"}}}, ""},
		{"path absent\nls-remote\nstatus 128\nfatal: Could not read from remote repository.\n",
			Git{Error: "git ls-remote (exit status 128): fatal: Could not read from remote repository."}, ""},
		{"path absent\nls-remote\nstatus 2\n\n", Git{Error: "git ls-remote (exit status 2): (no message)"}, ""},
		{"", Git{}, "no path state"},
		{"missing git\npath absent\n", Git{}, "1 lines after"},
		{"missing svn\n", Git{}, "a bad missing"},
		{"path absent\npath absent\n", Git{}, "twice"},
		{"path weird\n", Git{}, "a bad path"},
		{"path repo\nhead " + a + "\n", Git{}, "incomplete state for a repo path"},
		{"path absent\nhead " + a + "\n", Git{}, "incomplete state for a absent path"},
		{"path repo\nhead abc\ndirty no\norigin same\n", Git{}, "a bad head"},
		{"path repo\nhead " + a + "\ndirty maybe\norigin same\n", Git{}, "a bad dirty"},
		{"path repo\nhead " + a + "\ndirty no\norigin elsewhere\n", Git{}, "a bad origin"},
		{"fatal: oops\n", Git{}, "want path, head"},
		{"path absent\nls-remote\n" + b + " HEAD\nstatus 0\n", Git{}, "separated by a tab"},
		{"path absent\nls-remote\nxyz\tHEAD\nstatus 0\n", Git{}, "separated by a tab"},
		{"path absent\nls-remote\nref: \tHEAD\nstatus 0\n", Git{}, "bad symbolic ref"},
		{"path absent\nls-remote\n" + b + "\tHEAD\n", Git{}, "no exit status"},
		{"path absent\nls-remote\nstatus x\n", Git{}, "want an exit status"},
		{"path absent\nls-remote x\n", Git{}, "a bad ls-remote"},
	} {
		got, err := ParseGit(modules.ProbeResult{Stdout: c.out})
		if !errMatches(err, c.err) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v, %v\nwant %+v, %q", c.out, got, err, c.want, c.err)
		}
	}
}

// TestGitProbeCommand pins the probe command: it runs as root on every
// host, so a change must be deliberate. It must be one line, like every
// probe, unless a user's value holds a newline.
func TestGitProbeCommand(t *testing.T) {
	p := GitProbe(GitQuery{Path: "/srv/app", Repo: "https://example.com/app.git", Ref: "main"})
	want := `if ! command -v git >/dev/null 2>&1; then echo 'missing git'; else export GIT_TERMINAL_PROMPT=0; p=/srv/app; ` +
		`if [ ! -e "$p" ]; then echo 'path absent'; elif [ ! -d "$p" ]; then echo 'path other'; ` +
		`elif [ ! -e "$p/.git" ]; then if [ -z "$(ls -A "$p" 2>&1)" ]; then echo 'path empty'; else echo 'path dir'; fi; ` +
		`else h=$(git --no-optional-locks -C "$p" rev-parse -q --verify 'HEAD^{commit}' 2>/dev/null) || ` +
		`{ e=$(git --no-optional-locks -C "$p" rev-parse -q --verify 'HEAD^{commit}' 2>&1 >/dev/null); [ -z "$e" ] || { printf 'error git rev-parse HEAD: %s\n' "$e"; exit 0; }; }; ` +
		`s=$(git --no-optional-locks -C "$p" status --porcelain --untracked-files=no 2>/dev/null) || ` +
		`{ printf 'error git status: %s\n' "$(git --no-optional-locks -C "$p" status --porcelain --untracked-files=no 2>&1 >/dev/null)"; exit 0; }; ` +
		`printf 'path repo\nhead %s\n' "${h:-none}"; if [ -z "$s" ]; then echo 'dirty no'; else echo 'dirty yes'; fi; ` +
		`if ! u=$(git --no-optional-locks -C "$p" config --get remote.origin.url); then echo 'origin none'; ` +
		`elif [ "$u" = https://example.com/app.git ]; then echo 'origin same'; else echo 'origin other'; fi; fi; ` +
		`echo ls-remote; { e=$(git ls-remote --symref -- https://example.com/app.git main 'main^{}' 2>&1 >&3 3>&-); } 3>&1; ` +
		`printf 'status %s\n%s\n' "$?" "$e"; fi`
	if p.Command != want {
		t.Errorf("\n got %s\nwant %s", p.Command, want)
	}
	if p.ID != "git:/srv/app#"+p.ID[len("git:/srv/app#"):] || p.Sensitive {
		t.Errorf("ID %q, sensitive %v", p.ID, p.Sensitive)
	}
	u := GitProbe(GitQuery{Path: "/srv/app", Repo: "git@h:a.git", User: "deploy", Env: []string{"GIT_SSH_COMMAND=ssh -i '/k k'"}, KeyFile: "/k k", Sensitive: true})
	if !strings.HasPrefix(u.Command, "if ! command -v git >/dev/null 2>&1; then echo 'missing git'; elif ! command -v runuser >/dev/null 2>&1; then echo 'missing runuser'; else cd / && runuser -u deploy -- sh -c ") || !u.Sensitive {
		t.Errorf("as a user: %s", u.Command)
	}
	for _, p := range []modules.Probe{p, u} {
		if strings.ContainsAny(p.Command, "\n\r") {
			t.Errorf("multi-line command %q", p.Command)
		}
	}
	if p.ID == GitProbe(GitQuery{Path: "/srv/app", Repo: "https://example.com/other.git", Ref: "main"}).ID {
		t.Error("two queries of one path share a probe ID")
	}
}

func FuzzParseGit(f *testing.F) {
	f.Add("path repo\nhead 3f2a9c1e0b7d4a5f6e8c9b0a1d2e3f4a5b6c7d8e\ndirty no\norigin same\nls-remote\nref: refs/heads/main\tHEAD\n3f2a9c1e0b7d4a5f6e8c9b0a1d2e3f4a5b6c7d8e\tHEAD\nstatus 0\n\n")
	f.Add("missing git\n")
	f.Add("error x\ny\n")
	f.Add("path absent\nls-remote\nstatus 128\nfatal\n")
	f.Fuzz(func(t *testing.T, out string) {
		g, err := ParseGit(modules.ProbeResult{Stdout: out})
		if err != nil {
			return
		}
		switch {
		case g.Missing != "" || g.Error != "":
			if g.Path != "" || g.Head != "" || g.Remote != nil || g.Missing != "" && g.Error != "" {
				t.Errorf("missing or error with a state: %+v", g)
			}
		case g.Path == "":
			t.Errorf("no path: %+v", g)
		case g.Head != "" && (!IsObjectID(g.Head) || g.Path != GitPathRepo):
			t.Errorf("bad head: %+v", g)
		case g.Path == GitPathRepo && g.Origin == "":
			t.Errorf("repo without origin: %+v", g)
		}
		if g.Remote != nil {
			for n, id := range g.Remote.Refs {
				if n == "" || !IsObjectID(id) {
					t.Errorf("bad ref %q %q", n, id)
				}
			}
		}
	})
}
