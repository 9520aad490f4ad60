package facts

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// FileType is what a path is on the host.
type FileType string

// The file types stat reports, by the names opsrun uses in messages.
const (
	Regular   FileType = "regular file"
	Directory FileType = "directory"
	Symlink   FileType = "symbolic link"
	Fifo      FileType = "fifo"
	Socket    FileType = "socket"
	CharDev   FileType = "character device"
	BlockDev  FileType = "block device"
	Unknown   FileType = "special file"
)

// Stat is what the stat probe knows about a path. The path itself is not
// followed: a symbolic link is reported as one.
type Stat struct {
	Exists bool
	Type   FileType
	Mode   uint32 // permission bits, 0-07777
	Owner  string // user name, or the numeric uid when it has none
	Group  string // group name, or the numeric gid when it has none
	UID    string
	GID    string
	Size   int64
}

// statFormat prints one line of tab-separated fields: tabs cannot occur in
// a file type or an account name, so the split is unambiguous. The tabs are
// literal: stat -c does not expand \t (only GNU's --printf does, and
// busybox has no --printf).
const statFormat = "%F\t%a\t%U\t%G\t%s\t%u\t%g"

// StatProbe asks for the type, mode, owner, group and size of path, or the
// word "absent" when nothing (not even a dangling link) is there.
//
// Paths without a tab or newline join one batch: a single stat for all of
// them, printing each path before its fields, then "absent" and the path
// for each one missing, with test builtins. A path stat could not read
// (it exists, but stat failed) gets no line at all: as Command, it then
// prints nothing and fails.
func StatProbe(path string) modules.Probe {
	q := transport.ShellQuote(path)
	p := modules.Probe{
		ID: "stat:" + path,
		Command: "if [ -e " + q + " ] || [ -h " + q + " ]; then LC_ALL=C stat -c " +
			transport.ShellQuote(statFormat) + " " + q + "; else echo absent; fi",
	}
	if !strings.ContainsAny(path, "\t\n") {
		p.Batch = &modules.Batch{Key: "stat", Script: statBatchScript, Arg: path, Split: splitStat}
	}
	return p
}

// statBatchScript stats every path of "$@" at once.
const statBatchScript = "LC_ALL=C stat -c '%n\t" + statFormat + "' -- \"$@\" 2>/dev/null\n" +
	"for p do [ -e \"$p\" ] || [ -h \"$p\" ] || printf 'absent\\t%s\\n' \"$p\"; done"

// splitStat gives each path of a stat batch the result StatProbe's
// Command would have given.
func splitStat(stdout string, paths []string) ([]modules.ProbeResult, error) {
	found := map[string]string{}
	absent := map[string]bool{}
	for _, l := range strings.Split(stdout, "\n") {
		if l == "" {
			continue
		}
		name, rest, ok := strings.Cut(l, "\t")
		switch {
		case !ok:
			return nil, fmt.Errorf("stat batch printed %s", short(l))
		case name == "absent":
			absent[rest] = true
		default:
			found[name] = rest
		}
	}
	out := make([]modules.ProbeResult, len(paths))
	for i, p := range paths {
		switch fields, ok := found[p]; {
		case ok:
			out[i] = modules.ProbeResult{Stdout: fields + "\n"}
		case absent[p]:
			out[i] = modules.ProbeResult{Stdout: "absent\n"}
		default:
			out[i] = modules.ProbeResult{ExitStatus: 1}
		}
	}
	return out, nil
}

// ParseStat parses the output of StatProbe.
func ParseStat(r modules.ProbeResult) (Stat, error) {
	ls := lines(r.Stdout)
	if len(ls) == 1 && ls[0] == "absent" {
		return Stat{}, nil
	}
	if len(ls) != 1 {
		return Stat{}, fmt.Errorf("stat printed %d lines, want 1 (exit status %d): %s", len(ls), r.ExitStatus, short(r.Stdout))
	}
	f := strings.Split(ls[0], "\t")
	if len(f) != 7 {
		return Stat{}, fmt.Errorf("stat printed %d fields, want 7: %s", len(f), short(ls[0]))
	}
	st := Stat{Exists: true, Owner: f[2], Group: f[3], UID: f[5], GID: f[6]}
	switch f[0] {
	case "regular file", "regular empty file":
		st.Type = Regular
	case "directory":
		st.Type = Directory
	case "symbolic link":
		st.Type = Symlink
	case "fifo":
		st.Type = Fifo
	case "socket":
		st.Type = Socket
	case "character special file":
		st.Type = CharDev
	case "block special file":
		st.Type = BlockDev
	default:
		st.Type = Unknown
	}
	m, err := strconv.ParseUint(f[1], 8, 32)
	if err != nil || m > 0o7777 {
		return Stat{}, fmt.Errorf("stat printed mode %s, want octal", short(f[1]))
	}
	st.Mode = uint32(m)
	if !isDigits(f[5]) || !isDigits(f[6]) {
		return Stat{}, fmt.Errorf("stat printed uid/gid %s/%s, want numbers", short(f[5]), short(f[6]))
	}
	// stat prints UNKNOWN for an id without a name; the number is then the
	// only way to name the account.
	if st.Owner == "UNKNOWN" || st.Owner == "" {
		st.Owner = st.UID
	}
	if st.Group == "UNKNOWN" || st.Group == "" {
		st.Group = st.GID
	}
	st.Size, err = strconv.ParseInt(f[4], 10, 64)
	if err != nil || st.Size < 0 {
		return Stat{}, fmt.Errorf("stat printed size %s, want a number", short(f[4]))
	}
	return st, nil
}

// OwnedBy reports whether the path's owner is want, given as a name or a
// numeric uid.
func (s Stat) OwnedBy(want string) bool { return want == s.Owner || want == s.UID }

// InGroup reports whether the path's group is want, given as a name or a
// numeric gid.
func (s Stat) InGroup(want string) bool { return want == s.Group || want == s.GID }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// GetStat is the stat of path from StatProbe's fact in f, the parse error
// naming the path. Every type that stats a path reads it this way, so the
// error is worded the same everywhere.
func GetStat(f modules.Facts, path string) (Stat, error) {
	r, err := Get(f, StatProbe(path))
	if err != nil {
		return Stat{}, err
	}
	st, err := ParseStat(r)
	if err != nil {
		return Stat{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return st, nil
}
