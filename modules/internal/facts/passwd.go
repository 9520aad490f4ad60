package facts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// PasswdEntry is one entry of the user database, as getent passwd prints it:
// name:password:uid:gid:gecos:home:shell (glibc and musl's getent alike).
type PasswdEntry struct {
	Name  string
	UID   uint32
	GID   uint32
	Gecos string
	Home  string
	Shell string
}

// ParsePasswdLine parses one getent passwd line.
func ParsePasswdLine(line string) (PasswdEntry, error) {
	f := strings.Split(line, ":")
	if len(f) != 7 {
		return PasswdEntry{}, fmt.Errorf("getent passwd printed %d fields, want 7: %s", len(f), short(line))
	}
	uid, err1 := parseID(f[2])
	gid, err2 := parseID(f[3])
	if f[0] == "" || err1 != nil || err2 != nil {
		return PasswdEntry{}, fmt.Errorf("getent passwd printed %s, want name:x:uid:gid:gecos:home:shell", short(line))
	}
	return PasswdEntry{Name: f[0], UID: uid, GID: gid, Gecos: f[4], Home: f[5], Shell: f[6]}, nil
}

// parseID parses a uid or gid: decimal, 0 to 2^32-1.
func parseID(s string) (uint32, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("%s is not a numeric id", short(s))
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is not a numeric id", short(s))
	}
	return uint32(n), nil
}

// UserQuery says what a user probe asks besides the passwd entry and the
// groups, which it always asks.
type UserQuery struct {
	Name string
	// Tools asks which account tools the host has: shadow's useradd, or
	// only busybox's adduser (Alpine without the shadow package).
	Tools bool
	// Password, when not empty, is a crypted hash the probe compares with
	// the user's /etc/shadow field on the host: only "same" or "differs"
	// comes back, so neither hash leaves its side. The probe is then
	// sensitive.
	Password string
	// Keys asks for ~/.ssh and ~/.ssh/authorized_keys: their stat, and the
	// file's content when it is a regular file.
	Keys bool
	// Home is where to look for .ssh; "" means the home of the passwd
	// entry.
	Home string
}

// UserProbe asks, in one command, everything a user resource compares: the
// passwd entry (getent), the groups (id -Gn: the primary group first, then
// the supplementary ones, in GNU coreutils and busybox alike), and as q
// asks, the tools, the password's match and the authorized_keys file. A
// missing user prints nothing past the tools line and exits with getent's
// status 2.
//
// Every line is "WORD value"; the keys file's content, when asked and
// present, follows a line "content" and runs to the end, byte for byte.
// The ID names the parts asked, never the password.
func UserProbe(q UserQuery) modules.Probe {
	n := transport.ShellQuote(q.Name)
	id := "user:" + q.Name
	var b strings.Builder
	if q.Tools {
		id += "+tools"
		b.WriteString("if command -v useradd >/dev/null; then echo 'tools shadow'; else echo 'tools busybox'; fi; ")
	}
	b.WriteString("p=$(getent passwd " + n + ") || exit; printf 'passwd %s\\n' \"$p\"; printf 'groups %s\\n' \"$(id -Gn " + n + ")\"")
	if q.Password != "" {
		id += "+password"
		// ${s#*:} drops the name, ${s%%:*} keeps the hash field.
		b.WriteString("; s=$(getent shadow " + n + "); s=${s#*:}; s=${s%%:*}; if [ \"$s\" = " +
			transport.ShellQuote(q.Password) + " ]; then echo 'password same'; else echo 'password differs'; fi")
	}
	if q.Keys {
		if q.Home != "" {
			id += "+keys:" + q.Home
			b.WriteString("; h=" + transport.ShellQuote(q.Home))
		} else {
			id += "+keys"
			// The sixth field of the entry: passwd fields hold no colon.
			b.WriteString("; h=${p#*:*:*:*:*:}; h=${h%%:*}")
		}
		st := "LC_ALL=C stat -c " + transport.ShellQuote(statFormat)
		b.WriteString("; printf 'home %s\\n' \"$h\"; d=\"$h/.ssh\"; f=\"$d/authorized_keys\"" +
			"; printf 'sshdir '; if [ -e \"$d\" ] || [ -h \"$d\" ]; then " + st + " \"$d\"; else echo absent; fi" +
			"; printf 'keys '; if [ -e \"$f\" ] || [ -h \"$f\" ]; then " + st + " \"$f\"; else echo absent; fi" +
			"; if [ -f \"$f\" ] && [ ! -h \"$f\" ]; then echo content; cat \"$f\"; fi")
	}
	return modules.Probe{ID: id, Command: b.String(), Sensitive: q.Password != ""}
}

// UserState is what UserProbe found.
type UserState struct {
	// Tools is "shadow" or "busybox" when asked, else "".
	Tools  string
	Exists bool
	Passwd PasswdEntry
	// Primary is the name of the primary group (its number when it has
	// no name); Groups are the supplementary groups, without it.
	Primary string
	Groups  []string
	// Password is "same" or "differs" when asked, else "".
	Password string
	// Keys is set when asked and the user exists.
	Keys *AuthorizedKeys
}

// AuthorizedKeys is the state of a user's ~/.ssh and authorized_keys.
type AuthorizedKeys struct {
	Home       string // where the probe looked
	Dir        Stat   // ~/.ssh
	File       Stat   // ~/.ssh/authorized_keys
	Content    []byte // the file's content, when HasContent
	HasContent bool
}

// ParseUser parses the output of UserProbe. It never panics (fuzzed).
func ParseUser(r modules.ProbeResult) (UserState, error) {
	var u UserState
	rest := r.Stdout
	for rest != "" {
		line, after, ok := strings.Cut(rest, "\n")
		if !ok {
			return UserState{}, fmt.Errorf("user probe output ends mid-line: %s", short(line))
		}
		rest = after
		line = strings.TrimSuffix(line, "\r")
		if line == "content" {
			if u.Keys == nil || u.Keys.File.Type != Regular {
				return UserState{}, fmt.Errorf("user probe printed content before the stat of a regular keys file")
			}
			u.Keys.Content, u.Keys.HasContent = []byte(rest), true
			rest = ""
			break
		}
		word, val, _ := strings.Cut(line, " ")
		if err := u.parseLine(word, val); err != nil {
			return UserState{}, err
		}
	}
	if !u.Exists {
		// getent passwd exits 2 for a name it does not know; anything else
		// is a failure to read the user database (or no getent at all).
		if r.ExitStatus != 2 || u.Password != "" || u.Keys != nil {
			return UserState{}, fmt.Errorf("getent passwd failed (exit status %d): %s", r.ExitStatus, short(r.Stdout))
		}
		return u, nil
	}
	if u.Primary == "" {
		return UserState{}, fmt.Errorf("user probe printed no groups line (exit status %d)", r.ExitStatus)
	}
	if u.Keys != nil && u.Keys.File.Exists && u.Keys.File.Type == Regular && !u.Keys.HasContent {
		return UserState{}, fmt.Errorf("user probe printed no content for the regular file %s/.ssh/authorized_keys", u.Keys.Home)
	}
	return u, nil
}

// parseLine reads one "WORD value" line of the user probe.
func (u *UserState) parseLine(word, val string) error {
	switch word {
	case "tools":
		if val != "shadow" && val != "busybox" {
			return fmt.Errorf("user probe printed tools %s, want shadow or busybox", short(val))
		}
		u.Tools = val
	case "passwd":
		if u.Exists {
			return fmt.Errorf("user probe printed two passwd entries")
		}
		p, err := ParsePasswdLine(val)
		if err != nil {
			return err
		}
		u.Exists, u.Passwd = true, p
	case "groups":
		gs := strings.Fields(val)
		if !u.Exists || len(gs) == 0 {
			return fmt.Errorf("id -Gn printed %s, want the user's groups", short(val))
		}
		u.Primary, u.Groups = gs[0], nil
		for _, g := range gs[1:] {
			if g != u.Primary {
				u.Groups = append(u.Groups, g)
			}
		}
	case "password":
		if val != "same" && val != "differs" {
			return fmt.Errorf("user probe printed password %s, want same or differs", short(val))
		}
		u.Password = val
	case "home":
		if !u.Exists || val == "" {
			return fmt.Errorf("user probe printed home %s", short(val))
		}
		u.Keys = &AuthorizedKeys{Home: val}
	case "sshdir", "keys":
		if u.Keys == nil {
			return fmt.Errorf("user probe printed %s before home", word)
		}
		st, err := ParseStat(modules.ProbeResult{Stdout: val})
		if err != nil {
			return fmt.Errorf("%s: %w", word, err)
		}
		if word == "sshdir" {
			u.Keys.Dir = st
		} else {
			u.Keys.File = st
		}
	default:
		return fmt.Errorf("user probe printed an unexpected line %s", short(word+" "+val))
	}
	return nil
}
