package facts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// GitQuery is what GitProbe asks about a checkout.
type GitQuery struct {
	Path string // the checkout's directory
	// Repo is the declared repository. Origin's URL is compared with it on
	// the host, so an old URL (which may hold a token) never travels.
	Repo string
	// Ref is resolved with git ls-remote, a network call without a fetch;
	// "" asks nothing of the remote (a pinned commit).
	Ref string
	// User runs every git command (runuser -u): a checkout owned by
	// another user is refused by git as "dubious ownership", and the
	// deploy key and known_hosts are that user's.
	User string
	// Env are NAME=value pairs exported before git runs (GIT_SSH_COMMAND).
	Env []string
	// KeyFile, when set, must be readable by User (or root).
	KeyFile string
	// Sensitive marks the probe: Repo or KeyFile came from a sensitive
	// variable.
	Sensitive bool
}

// GitPath is what is at a checkout's path.
type GitPath string

// The kinds of path GitProbe tells apart.
const (
	GitPathAbsent GitPath = "absent" // nothing there
	GitPathEmpty  GitPath = "empty"  // an empty directory: a clone may go there
	GitPathRepo   GitPath = "repo"   // a directory with .git
	GitPathDir    GitPath = "dir"    // a directory with other content
	GitPathOther  GitPath = "other"  // a file or something else
)

// Git is what GitProbe found.
type Git struct {
	// Missing is what the host lacks to answer: "git", "runuser" (with a
	// user) or "key" (the key file is not readable). Nothing else is set.
	Missing string
	// Error is a git command that failed and its message, e.g. "git
	// rev-parse HEAD: fatal: detected dubious ownership...". Fields after
	// it are not set.
	Error string
	Path  GitPath
	// Head is HEAD's commit; "" when HEAD is unborn (no commit yet) or
	// the path is not a checkout.
	Head string
	// Origin compares remote "origin" with the declared repository:
	// "same", "other" or "none" (no origin). Set for a checkout only.
	Origin string
	// Dirty is set when tracked files differ from HEAD (staged or not);
	// untracked files do not count, as a checkout never touches them.
	Dirty bool
	// Remote is ls-remote's answer; nil when no ref was asked.
	Remote *LsRemote
}

// LsRemote is what git ls-remote --symref printed.
type LsRemote struct {
	Refs    map[string]string // ref name ("refs/heads/main", "HEAD", "refs/tags/v1^{}") → object id
	Symrefs map[string]string // symbolic ref ("HEAD") → its target ("refs/heads/main")
}

// GitProbe asks for the state of a checkout and, with a ref, the commit
// the remote has for it. All of it runs as q.User when set (one runuser,
// one sh). The output is lines of "key value"; an "error" line takes the
// rest of the output as its message, and "ls-remote" is followed by
// ls-remote's own output and a "status N" line, then its stderr.
//
// Probes that only read use git's --no-optional-locks, so a probe never
// rewrites the index of a checkout someone is working in.
func GitProbe(q GitQuery) modules.Probe {
	p := transport.ShellQuote(q.Path)
	var b strings.Builder
	b.WriteString("export GIT_TERMINAL_PROMPT=0")
	for _, e := range q.Env {
		b.WriteString(" " + transport.ShellQuote(e))
	}
	b.WriteString("; p=" + p + "; ")
	if q.KeyFile != "" {
		b.WriteString("[ -r " + transport.ShellQuote(q.KeyFile) + " ] || { echo 'missing key'; exit 0; }; ")
	}
	// Messages come from a second run of a failed command with stderr
	// kept: the first run drops stderr, so a warning there (an unreadable
	// ~/.config/git) cannot be read as the commit.
	g := `git --no-optional-locks -C "$p" `
	rev := g + `rev-parse -q --verify 'HEAD^{commit}'`
	st := g + `status --porcelain --untracked-files=no`
	b.WriteString(`if [ ! -e "$p" ]; then echo 'path absent'; ` +
		`elif [ ! -d "$p" ]; then echo 'path other'; ` +
		`elif [ ! -e "$p/.git" ]; then if [ -z "$(ls -A "$p" 2>&1)" ]; then echo 'path empty'; else echo 'path dir'; fi; ` +
		`else ` +
		// rev-parse exits 1 with no message for an unborn HEAD.
		`h=$(` + rev + ` 2>/dev/null) || { e=$(` + rev + ` 2>&1 >/dev/null); [ -z "$e" ] || { printf 'error git rev-parse HEAD: %s\n' "$e"; exit 0; }; }; ` +
		`s=$(` + st + ` 2>/dev/null) || { printf 'error git status: %s\n' "$(` + st + ` 2>&1 >/dev/null)"; exit 0; }; ` +
		`printf 'path repo\nhead %s\n' "${h:-none}"; ` +
		`if [ -z "$s" ]; then echo 'dirty no'; else echo 'dirty yes'; fi; ` +
		`if ! u=$(` + g + `config --get remote.origin.url); then echo 'origin none'; ` +
		`elif [ "$u" = ` + transport.ShellQuote(q.Repo) + ` ]; then echo 'origin same'; else echo 'origin other'; fi; ` +
		`fi`)
	if q.Ref != "" {
		// ls-remote's stdout goes straight out and its stderr into $e
		// (fd 3 is the probe's stdout): an ssh warning on stderr ("added
		// to known hosts") must not be read as a ref. Patterns match the
		// end of ref names; REF^{} asks for a tag's commit too.
		b.WriteString("; echo ls-remote; { e=$(git ls-remote --symref -- " +
			transport.ShellJoin(q.Repo, q.Ref, q.Ref+"^{}") +
			` 2>&1 >&3 3>&-); } 3>&1; printf 'status %s\n%s\n' "$?" "$e"`)
	}
	body := b.String()
	cmd := "if ! command -v git >/dev/null 2>&1; then echo 'missing git'; "
	if q.User != "" {
		cmd += "elif ! command -v runuser >/dev/null 2>&1; then echo 'missing runuser'; " +
			"else cd / && runuser -u " + transport.ShellQuote(q.User) + " -- sh -c " + transport.ShellQuote(body) + "; fi"
	} else {
		cmd += "else " + body + "; fi"
	}
	sum := sha256.Sum256([]byte(cmd))
	return modules.Probe{
		ID:        "git:" + q.Path + "#" + hex.EncodeToString(sum[:8]),
		Command:   cmd,
		Sensitive: q.Sensitive,
	}
}

// ParseGit parses the output of GitProbe.
func ParseGit(r modules.ProbeResult) (Git, error) {
	ls := lines(r.Stdout)
	var g Git
	seen := map[string]bool{}
	for i := 0; i < len(ls); i++ {
		k, v, _ := strings.Cut(ls[i], " ")
		if seen[k] {
			return Git{}, fmt.Errorf("git probe printed %s twice", short(k))
		}
		seen[k] = true
		switch k {
		case "missing":
			switch v {
			case "git", "runuser", "key":
				if len(ls) != 1 {
					return Git{}, fmt.Errorf("git probe printed %d lines after %s", len(ls)-1, short(ls[i]))
				}
				return Git{Missing: v}, nil
			}
		case "error":
			g.Error = strings.TrimSpace(strings.Join(append([]string{v}, ls[i+1:]...), "\n"))
			if g.Error == "" {
				g.Error = "(no message)"
			}
			return Git{Error: g.Error}, nil
		case "path":
			switch p := GitPath(v); p {
			case GitPathAbsent, GitPathEmpty, GitPathRepo, GitPathDir, GitPathOther:
				g.Path = p
				continue
			}
		case "head":
			if v == "none" {
				continue
			}
			if IsObjectID(v) {
				g.Head = strings.ToLower(v)
				continue
			}
		case "dirty":
			if v == "yes" || v == "no" {
				g.Dirty = v == "yes"
				continue
			}
		case "origin":
			if v == "same" || v == "other" || v == "none" {
				g.Origin = v
				continue
			}
		case "ls-remote":
			if v != "" {
				break
			}
			rem, msg, err := parseLsRemote(ls[i+1:])
			if err != nil {
				return Git{}, err
			}
			if msg != "" {
				return Git{Error: msg}, nil
			}
			g.Remote = rem
			i = len(ls)
			continue
		}
		if k == "missing" || k == "path" || k == "head" || k == "dirty" || k == "origin" || k == "ls-remote" {
			return Git{}, fmt.Errorf("git probe printed %s, a bad %s", short(ls[i]), k)
		}
		return Git{}, fmt.Errorf("git probe printed %s, want path, head, dirty, origin or ls-remote (exit status %d)", short(ls[i]), r.ExitStatus)
	}
	if g.Path == "" {
		return Git{}, fmt.Errorf("git probe printed no path state (exit status %d): %s", r.ExitStatus, short(r.Stdout))
	}
	all := seen["head"] && seen["dirty"] && seen["origin"]
	some := seen["head"] || seen["dirty"] || seen["origin"]
	if g.Path == GitPathRepo && !all || g.Path != GitPathRepo && some {
		return Git{}, fmt.Errorf("git probe printed an incomplete state for a %s path: %s", g.Path, short(r.Stdout))
	}
	return g, nil
}

// parseLsRemote reads ls-remote's lines up to "status N" and, when N is
// not 0, returns its stderr (the lines after) as the message.
func parseLsRemote(ls []string) (*LsRemote, string, error) {
	rem := &LsRemote{Refs: map[string]string{}, Symrefs: map[string]string{}}
	for i, l := range ls {
		if s, ok := strings.CutPrefix(l, "status "); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 255 {
				return nil, "", fmt.Errorf("git ls-remote probe printed %s, want an exit status", short(l))
			}
			if n == 0 {
				return rem, "", nil
			}
			msg := strings.TrimSpace(strings.Join(ls[i+1:], "\n"))
			if msg == "" {
				msg = "(no message)"
			}
			return nil, fmt.Sprintf("git ls-remote (exit status %d): %s", n, msg), nil
		}
		// Lines are "OID<TAB>NAME", or "ref: TARGET<TAB>NAME" for a
		// symbolic ref with --symref (git-ls-remote(1)).
		left, name, ok := strings.Cut(l, "\t")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, "", fmt.Errorf("git ls-remote printed %s, want an object id and a ref name separated by a tab", short(l))
		}
		if target, ok := strings.CutPrefix(left, "ref: "); ok {
			if target == "" || strings.ContainsAny(target, " \t") {
				return nil, "", fmt.Errorf("git ls-remote printed %s, a bad symbolic ref", short(l))
			}
			rem.Symrefs[name] = target
			continue
		}
		if !IsObjectID(left) {
			return nil, "", fmt.Errorf("git ls-remote printed %s, want an object id and a ref name separated by a tab", short(l))
		}
		rem.Refs[name] = strings.ToLower(left)
	}
	return nil, "", fmt.Errorf("git ls-remote probe printed no exit status")
}

// IsObjectID reports whether s is a full object id: 40 hex digits
// (SHA-1) or 64 (SHA-256 repositories).
func IsObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
