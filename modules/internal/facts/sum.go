package facts

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// MaxDiffSize is the largest file whose content is fetched and diffed.
// Larger files are compared by checksum only: a diff nobody reads is not
// worth moving over SSH in every probe round.
const MaxDiffSize = 64 << 10

// Sum is the checksum of a regular file and, when fetched, its content.
type Sum struct {
	Present    bool   // a regular file was there and readable
	SHA256     string // lowercase hex
	Content    []byte // the content, when HasContent
	HasContent bool
}

// SumProbe asks for the SHA-256 of the regular file at path. With want (a
// hex SHA-256) it also prints the file's content, base64, when the file is
// at most MaxDiffSize and its checksum differs from want: the diff needs
// it, and a file that is already right costs one line.
func SumProbe(path, want string) modules.Probe {
	q := transport.ShellQuote(path)
	// sha256sum reads stdin so the output holds no file name (GNU escapes
	// names with backslashes or newlines); ${h%% *} keeps the hash.
	cmd := "if [ -f " + q + " ] && [ ! -h " + q + " ]; then h=$(sha256sum < " + q + ") && h=${h%% *} && echo \"$h\""
	id := "sha256:" + path
	if want != "" {
		cmd += " && if [ \"$h\" != " + transport.ShellQuote(want) + " ] && [ $(wc -c < " + q + ") -le " +
			fmt.Sprint(MaxDiffSize) + " ]; then base64 < " + q + "; fi"
		id = "content:" + path + "@" + want
	}
	cmd += "; fi"
	p := modules.Probe{ID: id, Command: cmd}
	// Names read back whole from sha256sum's output join the batch: GNU
	// escapes a name with a backslash or newline, and read trims blanks.
	if !strings.ContainsAny(path, "\\\n\t") && strings.TrimSpace(path) == path {
		if want == "" {
			want = "-"
		}
		p.Batch = &modules.Batch{Key: "sha256", Script: sumBatchScript, Arg: want + " " + path, Split: splitSum}
	}
	return p
}

// sumBatchScript answers SumProbes for every "WANT PATH" of "$@" (WANT "-"
// when no content is wanted) with one sha256sum: an "R PATH" line for each
// regular file, then for each one sha256sum read "S HASH PATH" followed
// by the base64 content when it is wanted, differs and is small. A file
// sha256sum could not read has an R line and no S line.
const sumBatchScript = `w=
for a do
  shift
  p=${a#* }
  if [ -f "$p" ] && [ ! -h "$p" ]; then printf 'R %s\n' "$p"; set -- "$@" "$p"; w="$w${a%% *} "; fi
done
[ $# -eq 0 ] || sha256sum -- "$@" 2>/dev/null | while read -r h p; do
  while [ $# -gt 0 ] && [ "$1" != "$p" ]; do shift; w=${w#* }; done
  [ $# -gt 0 ] || break
  x=${w%% *}
  printf 'S %s %s\n' "$h" "$p"
  if [ "$x" != - ] && [ "$h" != "$x" ] && [ $(wc -c < "$p") -le ` + "65536" + ` ]; then base64 < "$p"; fi
  shift; w=${w#* }
done`

// splitSum gives each "WANT PATH" of a sha256 batch the result SumProbe's
// Command would have given.
func splitSum(stdout string, args []string) ([]modules.ProbeResult, error) {
	type sumRec struct {
		path string
		out  strings.Builder
	}
	var regular []string
	var sums []*sumRec
	for _, l := range strings.Split(stdout, "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "R "):
			regular = append(regular, l[2:])
		case strings.HasPrefix(l, "S "):
			h, p, ok := strings.Cut(l[2:], " ")
			if !ok {
				return nil, fmt.Errorf("sha256 batch printed %s", short(l))
			}
			r := &sumRec{path: p}
			r.out.WriteString(h + "\n")
			sums = append(sums, r)
		case len(sums) > 0:
			sums[len(sums)-1].out.WriteString(l + "\n")
		default:
			return nil, fmt.Errorf("sha256 batch printed %s", short(l))
		}
	}
	out := make([]modules.ProbeResult, len(args))
	ri, si := 0, 0
	for i, a := range args {
		_, path, _ := strings.Cut(a, " ")
		if ri >= len(regular) || regular[ri] != path {
			continue // no regular file there: nothing printed, status 0
		}
		ri++
		if si < len(sums) && sums[si].path == path {
			out[i] = modules.ProbeResult{Stdout: sums[si].out.String()}
			si++
			continue
		}
		out[i] = modules.ProbeResult{ExitStatus: 1} // sha256sum could not read it
	}
	if ri != len(regular) || si != len(sums) {
		return nil, fmt.Errorf("sha256 batch answered %d of %d files", si, len(regular))
	}
	return out, nil
}

// ParseSum parses the output of SumProbe: nothing (no regular file), a
// checksum line, and optionally base64 lines of content.
func ParseSum(r modules.ProbeResult) (Sum, error) {
	ls := lines(r.Stdout)
	if len(ls) == 0 {
		return Sum{}, nil
	}
	h := ls[0]
	if len(h) != 64 {
		return Sum{}, fmt.Errorf("sha256sum printed %s, want 64 hex digits", short(h))
	}
	if _, err := hex.DecodeString(h); err != nil {
		return Sum{}, fmt.Errorf("sha256sum printed %s, want 64 hex digits", short(h))
	}
	s := Sum{Present: true, SHA256: strings.ToLower(h)}
	if len(ls) == 1 {
		// base64 prints nothing for an empty file; its checksum says it.
		if s.SHA256 == emptySHA256 {
			s.Content, s.HasContent = []byte{}, true
		}
		return s, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(ls[1:], ""))
	if err != nil {
		return Sum{}, fmt.Errorf("file content is not valid base64: %w", err)
	}
	// A file rewritten between sha256sum and base64 gives content that does
	// not match the checksum; diffing it would show a change that is not
	// the one the plan compares, so fall back to checksums.
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) == s.SHA256 {
		s.Content, s.HasContent = b, true
	}
	return s, nil
}

// emptySHA256 is the SHA-256 of no bytes.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
