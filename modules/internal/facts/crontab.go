package facts

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// Crontab is a user's crontab as `crontab -l` lists it.
type Crontab struct {
	// Exists is false when the user has no crontab (an empty one).
	Exists bool
	// Content is the listing, byte for byte. Vixie cron (Debian) leaves
	// out the three "DO NOT EDIT" header lines it writes on install, so
	// what is listed is what was installed; cronie and busybox add none.
	Content string
}

// Errors ParseCrontab returns for host states a resource explains.
var (
	// ErrNoCrontab: there is no crontab command (no cron installed).
	ErrNoCrontab = errors.New("there is no crontab command")
	// ErrUnknownUser: crontab does not know the user.
	ErrUnknownUser = errors.New("no such user")
)

// CrontabProbe lists user's crontab. crontab's stderr is merged into
// stdout because its message is what tells "no crontab" (exit 1, an empty
// crontab) from a real failure (also exit 1); on success crontab writes
// nothing to stderr. The shell's "not found" (exit 127) means no crontab
// command. C locale: glibc translates the strerror text busybox prints.
func CrontabProbe(user string) modules.Probe {
	return modules.Probe{
		ID:      "crontab:" + user,
		Command: "LC_ALL=C crontab -u " + transport.ShellQuote(user) + " -l 2>&1",
	}
}

// ParseCrontab parses the output of CrontabProbe(user). The messages it
// recognises (as line endings, so another user's name never matches), from
// the sources of each implementation:
//
//   - vixie cron (Debian's cron) and cronie (RHEL) print
//     "no crontab for USER" and exit 1 when the user has none, and
//     "crontab:  user `USER' unknown" for an unknown user;
//   - busybox crontab (Alpine) cats the spool file, so it prints
//     "crontab: can't open 'USER': No such file or directory" (exit 1) for
//     none, and "crontab: unknown user USER" (libbb's xgetpwnam).
func ParseCrontab(user string, r modules.ProbeResult) (Crontab, error) {
	out := r.Stdout
	switch r.ExitStatus {
	case 0:
		return Crontab{Exists: true, Content: out}, nil
	case 127:
		return Crontab{}, ErrNoCrontab
	}
	ls := lines(out)
	for _, l := range ls {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasSuffix(l, "no crontab for "+user),
			strings.HasSuffix(l, "no crontab for `"+user+"'"),
			strings.HasSuffix(l, "can't open '"+user+"': No such file or directory"):
			return Crontab{}, nil
		case strings.HasSuffix(l, "unknown user "+user),
			strings.HasSuffix(l, "user `"+user+"' unknown"):
			return Crontab{}, fmt.Errorf("crontab: user %s: %w", user, ErrUnknownUser)
		}
	}
	msg := strings.Join(ls, " | ")
	if msg == "" {
		return Crontab{}, fmt.Errorf("crontab -l failed (exit status %d) and printed nothing", r.ExitStatus)
	}
	return Crontab{}, fmt.Errorf("crontab -l failed (exit status %d): %s", r.ExitStatus, short(msg))
}
