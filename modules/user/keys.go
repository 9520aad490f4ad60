package user

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/attr"
	"github.com/opsrun/opsrun/modules/internal/facts"
	"github.com/opsrun/opsrun/modules/internal/filediff"
	"github.com/opsrun/opsrun/modules/internal/fsmeta"
)

// authKey is one declared authorized_keys line.
type authKey struct {
	line string // as written to the file: trimmed
	blob string // the key itself (type and bytes), what identifies it
}

// parseKeys checks each line parses as an OpenSSH public key line (with
// options and a comment, as sshd reads authorized_keys) and that no key is
// listed twice.
func parseKeys(r *attr.Reader, lines []string) []authKey {
	var keys []authKey
	seen := map[string]int{}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		what := "entry " + strconv.Itoa(i+1)
		if !r.Sensitive("authorized_keys") {
			what += " (" + preview(l) + ")"
		}
		if strings.ContainsAny(l, "\n\r") {
			r.Errorf("authorized_keys", "%s holds a line break: give one key per list element", what)
			continue
		}
		k, ok := parseKeyLine(l)
		if !ok {
			r.Errorf("authorized_keys", "%s is not an OpenSSH public key line like \"ssh-ed25519 AAAA... user@host\"", what)
			continue
		}
		if j, dup := seen[k.blob]; dup {
			r.Errorf("authorized_keys", "%s repeats the key of entry %d", what, j)
			continue
		}
		seen[k.blob] = i + 1
		keys = append(keys, k)
	}
	return keys
}

// parseKeyLine parses one authorized_keys line; ok is false for blank
// lines, comments and anything that is not a key.
func parseKeyLine(l string) (authKey, bool) {
	l = strings.TrimSpace(l)
	if l == "" || strings.HasPrefix(l, "#") {
		return authKey{}, false
	}
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(l))
	if err != nil || len(rest) != 0 {
		return authKey{}, false
	}
	return authKey{line: l, blob: string(pub.Marshal())}, true
}

// preview is the start of a key line for an error message.
func preview(l string) string {
	if len(l) > 24 {
		l = l[:24] + "..."
	}
	return strconv.Quote(l)
}

// Modes of ~/.ssh and authorized_keys: what sshd's StrictModes accepts
// and what ssh-keygen makes.
const (
	sshDirMode = 0o700
	keysMode   = 0o600
)

// planKeys returns the actions that make ~/.ssh and authorized_keys as
// declared, after the account actions (the user must exist for chown).
func (res *resource) planKeys(u facts.UserState) ([]modules.Action, error) {
	var k facts.AuthorizedKeys
	// The group to own the files: the declared primary group, or the
	// current one. For a new user without a declared group it is not
	// known yet; "NAME:" makes chown use the login group.
	grp := res.group
	if u.Exists {
		if u.Keys == nil {
			return nil, fmt.Errorf("user %s: the probe did not report the authorized_keys file", res.name)
		}
		k = *u.Keys
		if grp == "" {
			grp = strconv.FormatUint(uint64(u.Passwd.GID), 10)
		}
	} else {
		k.Home = res.newHome()
	}
	dir := strings.TrimSuffix(k.Home, "/") + "/.ssh"
	file := dir + "/authorized_keys"
	name := res.show("name", res.name)
	var acts []modules.Action
	want := fsmeta.Want{Mode: sshDirMode, Owner: res.name, Group: grp}
	switch {
	case !k.Dir.Exists:
		acts = append(acts, modules.Action{
			Summary: "create " + dir + " (mode 0700, owner " + name + ")",
			Command: "mkdir -m 0700 " + transport.ShellQuote(dir) + " && chown " + transport.ShellQuote(res.name+":"+grp) + " " + transport.ShellQuote(dir),
		})
	case k.Dir.Type == facts.Symlink:
		return nil, fmt.Errorf("%s is a symbolic link; refusing to write authorized_keys through it (remove it, or manage the keys another way)", dir)
	case k.Dir.Type != facts.Directory:
		return nil, fmt.Errorf("%s is a %s, not a directory", dir, k.Dir.Type)
	default:
		if c := fsmeta.Changes(k.Dir, want); len(c) > 0 {
			acts = append(acts, modules.Action{
				Summary: "change " + dir + " (" + strings.Join(c, ", ") + ")",
				Command: fsmeta.Fix(dir, k.Dir, want, true),
			})
		}
	}
	switch {
	case k.File.Type == facts.Symlink:
		return nil, fmt.Errorf("%s is a symbolic link; refusing to replace it (remove it, or manage the keys another way)", file)
	case k.File.Exists && k.File.Type != facts.Regular:
		return nil, fmt.Errorf("%s is a %s, not a regular file", file, k.File.Type)
	}
	var current []byte
	if k.File.Exists {
		current = k.Content
	}
	content, change := res.keysContent(current)
	want.Mode = keysMode
	if !k.File.Exists {
		return append(acts, res.writeKeys(file, "create "+file+" ("+count(len(res.keys), "key")+")", filediff.Side{}, content, grp)), nil
	}
	meta := fsmeta.Changes(k.File, want)
	if string(content) != string(current) {
		summary := "update " + file
		if len(change)+len(meta) > 0 {
			summary += " (" + strings.Join(append(change, meta...), ", ") + ")"
		}
		return append(acts, res.writeKeys(file, summary, filediff.Text(current), content, grp)), nil
	}
	if len(meta) > 0 {
		acts = append(acts, modules.Action{
			Summary: "change " + file + " (" + strings.Join(meta, ", ") + ")",
			Command: fsmeta.Fix(file, k.File, want, false),
		})
	}
	return acts, nil
}

// writeKeys uploads the authorized_keys content, owned by the user.
func (res *resource) writeKeys(file, summary string, on filediff.Side, content []byte, grp string) modules.Action {
	hidden := res.sensitive["authorized_keys"]
	a := modules.Action{
		Summary:   summary,
		Diff:      filediff.Unified(file, on, filediff.Text(content), hidden),
		Upload:    &modules.Upload{Path: file, Content: content, Mode: keysMode, Owner: res.name, Group: grp},
		Sensitive: hidden,
	}
	if grp == "" {
		// A new user's group is known once useradd made it.
		a.Command = "chown " + transport.ShellQuote(res.name+":") + " " + transport.ShellQuote(file)
	}
	return a
}

// keysContent is the authorized_keys content to have, given the host's,
// and how the keys change, for the summary ("add 1 key", "remove 2 keys").
// Exclusive: exactly the declared lines. Otherwise the host's lines stay;
// a line whose key is declared is replaced by the declared line (its
// options may differ, and they matter), and missing keys are appended.
func (res *resource) keysContent(current []byte) ([]byte, []string) {
	var hostLines []string
	if len(current) > 0 {
		hostLines = strings.Split(strings.TrimSuffix(string(current), "\n"), "\n")
	}
	onHost := map[string]string{} // blob → line
	for _, l := range hostLines {
		if k, ok := parseKeyLine(l); ok {
			if _, dup := onHost[k.blob]; !dup {
				onHost[k.blob] = strings.TrimSuffix(l, "\r")
			}
		}
	}
	declared := map[string]bool{}
	var added, changed int
	for _, k := range res.keys {
		declared[k.blob] = true
		switch l, ok := onHost[k.blob]; {
		case !ok:
			added++
		case l != k.line:
			changed++
		}
	}
	var out []string
	removed := 0
	if res.exclusive {
		for blob := range onHost {
			if !declared[blob] {
				removed++
			}
		}
		for _, k := range res.keys {
			out = append(out, k.line)
		}
	} else {
		done := map[string]bool{}
		byBlob := map[string]string{}
		for _, k := range res.keys {
			byBlob[k.blob] = k.line
		}
		for _, l := range hostLines {
			k, ok := parseKeyLine(l)
			if ok && byBlob[k.blob] != "" {
				if done[k.blob] {
					continue // a second line with the same key: one is enough
				}
				done[k.blob] = true
				out = append(out, byBlob[k.blob])
				continue
			}
			out = append(out, l)
		}
		for _, k := range res.keys {
			if !done[k.blob] {
				out = append(out, k.line)
			}
		}
	}
	var change []string
	if added > 0 {
		change = append(change, "add "+count(added, "key"))
	}
	if changed > 0 {
		change = append(change, "change "+count(changed, "key"))
	}
	if removed > 0 {
		change = append(change, "remove "+count(removed, "key"))
	}
	if len(out) == 0 {
		return []byte{}, change
	}
	return []byte(strings.Join(out, "\n") + "\n"), change
}

// count is "1 key", "2 keys".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
