package facts

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// TextFileMax is the largest file TextFileProbe fetches. The types that
// edit a file in place (line, blockinfile) read it whole in every probe
// round and write it whole; past a megabyte that is not a config file.
const TextFileMax = 1 << 20

// TextFile is a file read whole by TextFileProbe.
type TextFile struct {
	// Path is the file that was read: the probed path, or the target of
	// the symbolic link at it (an edit is written there, so the link
	// stays a link).
	Path string
	// Link is set when the probed path is a symbolic link to Path.
	Link bool
	// Stat is the file's stat (Exists false when nothing is at Path).
	Stat Stat
	// NoParent is set when nothing is at Path and its directory does not
	// exist either, so the file cannot be created there.
	NoParent bool
	// Content is the file's bytes when it is a regular file of at most
	// TextFileMax bytes.
	Content []byte
	// TooLarge is set for a regular file over TextFileMax: not read.
	TooLarge bool
}

// textFileFormat is the stat line: the size once more in front, so the
// shell can cut it with ${s%%TAB*} and compare it without another
// process, then the fields of StatProbe.
const textFileFormat = "%s\t" + statFormat

// TextFileProbe asks for the file at path, whole: one line "link\tTARGET"
// first when path is a symbolic link (readlink -f; empty when it cannot be
// resolved), then the stat line of the file (or "absent", or
// "absent noparent" when its directory is missing too), then, for a
// regular file of at most TextFileMax bytes, its content in base64. A
// fifo or device is never read: reading could block or never end.
func TextFileProbe(path string) modules.Probe {
	return modules.Probe{
		ID: "textfile:" + path,
		Command: "p=" + transport.ShellQuote(path) + "; " +
			`if [ -h "$p" ]; then p=$(readlink -f "$p"); printf 'link\t%s\n' "$p"; fi; ` +
			`if [ -z "$p" ]; then :; ` +
			`elif [ -e "$p" ]; then s=$(LC_ALL=C stat -c ` + transport.ShellQuote(textFileFormat) + ` "$p") && printf '%s\n' "$s" && ` +
			`if [ -f "$p" ] && [ "${s%%` + "\t" + `*}" -le ` + strconv.Itoa(TextFileMax) + ` ]; then base64 < "$p"; fi; ` +
			`elif [ -d "${p%/*}/" ]; then echo absent; else echo absent noparent; fi`,
	}
}

// ParseTextFile parses the output of TextFileProbe(path).
func ParseTextFile(path string, r modules.ProbeResult) (TextFile, error) {
	tf := TextFile{Path: path}
	ls := lines(r.Stdout)
	if len(ls) > 0 {
		if target, ok := strings.CutPrefix(ls[0], "link\t"); ok {
			if !strings.HasPrefix(target, "/") {
				return TextFile{}, fmt.Errorf("%s is a symbolic link that cannot be resolved (readlink -f printed %s)", path, short(target))
			}
			tf.Path, tf.Link = target, true
			ls = ls[1:]
		}
	}
	if len(ls) == 0 {
		return TextFile{}, fmt.Errorf("file probe printed nothing about %s (exit status %d)", tf.Path, r.ExitStatus)
	}
	switch ls[0] {
	case "absent":
		if len(ls) != 1 {
			return TextFile{}, fmt.Errorf("file probe printed %s after absent", short(ls[1]))
		}
		return tf, nil
	case "absent noparent":
		if len(ls) != 1 {
			return TextFile{}, fmt.Errorf("file probe printed %s after absent", short(ls[1]))
		}
		tf.NoParent = true
		return tf, nil
	}
	size, rest, ok := strings.Cut(ls[0], "\t")
	if !ok {
		return TextFile{}, fmt.Errorf("file probe printed %s, want a stat line", short(ls[0]))
	}
	st, err := ParseStat(modules.ProbeResult{Stdout: rest})
	if err != nil {
		return TextFile{}, err
	}
	if !st.Exists || strconv.FormatInt(st.Size, 10) != size {
		return TextFile{}, fmt.Errorf("file probe printed %s, want the size twice", short(ls[0]))
	}
	tf.Stat = st
	body := ls[1:]
	switch {
	case st.Type != Regular:
		if len(body) > 0 {
			return TextFile{}, fmt.Errorf("file probe printed content for a %s", st.Type)
		}
		return tf, nil
	case st.Size > TextFileMax:
		if len(body) > 0 {
			return TextFile{}, fmt.Errorf("file probe printed content for a file over %d bytes", TextFileMax)
		}
		tf.TooLarge = true
		return tf, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(body, ""))
	if err != nil {
		return TextFile{}, fmt.Errorf("content of %s is not valid base64: %w", tf.Path, err)
	}
	// A short read means the file changed between stat and read, or could
	// not be read at all; editing a part would lose the rest.
	if int64(len(b)) != st.Size {
		return TextFile{}, fmt.Errorf("read %d bytes of %s, which stat says has %d: it was not readable or changed while it was read", len(b), tf.Path, st.Size)
	}
	tf.Content = b
	return tf, nil
}
