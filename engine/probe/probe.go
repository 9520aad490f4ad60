// Package probe runs the probes of many resources on one host in a single
// round trip. Modules declare probes (a shell command whose stdout and exit
// status are the fact); the engine collects them for a whole recipe, runs
// them here as one script, and hands each resource its results. Round
// trips, not remote CPU, are what make a converge slow, so the count of
// round trips per host must not grow with the count of resources.
package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// ErrIncomplete means the output lacks some probe's frame: the script was
// killed, the session was cut, or the host's sh gave up half-way. The
// results that did arrive are not returned, because a resource planning
// from a missing fact would plan wrong.
var ErrIncomplete = errors.New("probe output is incomplete")

// ErrConflict means two probes share an ID but not a command: a module
// bug, since an ID names one fact.
var ErrConflict = errors.New("probes with the same ID have different commands")

// runCommand is the command the script is fed to. The script goes to sh's
// stdin rather than into the command line because a command line is one
// argv string on the host, which Linux caps at 128 KiB (MAX_ARG_STRLEN),
// and a recipe's probes, sudo-quoted, can exceed it. It also keeps the
// probes' commands, some of them sensitive (modules.Probe.Sensitive), out
// of the host's `ps` output and out of the transport's command log, which
// records only "sh -s".
const runCommand = "sh -s"

// maxStderr bounds how much of the script's stderr an error quotes.
const maxStderr = 512

// Run runs probes on c's host in one command (through sudo when become)
// and returns each probe's stdout and exit status by ID. Probes with the
// same ID and command run once; the same ID with different commands is an
// ErrConflict. A probe exiting non-zero is a result, not an error. No
// probes means no round trip.
func Run(ctx context.Context, c transport.Conn, probes []modules.Probe, become bool) (modules.Facts, error) {
	unique, err := dedupe(probes)
	if err != nil {
		return nil, &transport.HostError{Host: c.Host(), Op: "probe", Err: err}
	}
	if len(unique) == 0 {
		return modules.Facts{}, nil
	}
	token, err := newToken()
	if err != nil {
		return nil, &transport.HostError{Host: c.Host(), Op: "probe", Err: err}
	}
	unique, batches := batch(unique)
	res, err := c.Run(ctx, transport.Cmd{
		Command: runCommand,
		Stdin:   strings.NewReader(Script(unique, token)),
		Become:  become,
	})
	if err != nil {
		if _, ok := errors.AsType[*transport.HostError](err); ok {
			return nil, fmt.Errorf("probe: %w", err)
		}
		return nil, &transport.HostError{Host: c.Host(), Op: "probe", Err: err}
	}
	ids := make([]string, len(unique))
	for i, p := range unique {
		ids[i] = p.ID
	}
	facts, err := Parse(res.Stdout, token, ids)
	if err == nil {
		err = split(facts, batches)
	}
	if err != nil {
		return nil, &transport.HostError{Host: c.Host(), Op: "probe",
			Err: fmt.Errorf("%w (script exit status %d%s)", err, res.ExitStatus, stderrNote(res.Stderr))}
	}
	return facts, nil
}

// batchPrefix starts the ID of the probe that stands for a batch; no
// module's probe ID starts with a NUL.
const batchPrefix = "\x00batch:"

// batch replaces the members of each batch of two or more probes with one
// probe running the batch's script over their arguments, placed where
// the first member was. It returns the members by that probe's ID.
func batch(probes []modules.Probe) ([]modules.Probe, map[string][]modules.Probe) {
	members := map[string][]modules.Probe{}
	for _, p := range probes {
		if p.Batch != nil {
			members[p.Batch.Key] = append(members[p.Batch.Key], p)
		}
	}
	out := make([]modules.Probe, 0, len(probes))
	groups := map[string][]modules.Probe{}
	for _, p := range probes {
		if p.Batch == nil || len(members[p.Batch.Key]) < 2 {
			out = append(out, p)
			continue
		}
		id := batchPrefix + p.Batch.Key
		if _, done := groups[id]; done {
			continue
		}
		ms := members[p.Batch.Key]
		groups[id] = ms
		args := make([]string, len(ms))
		sensitive := false
		for i, m := range ms {
			args[i] = m.Batch.Arg
			sensitive = sensitive || m.Sensitive
		}
		out = append(out, modules.Probe{ID: id, Command: "set -- " + transport.ShellJoin(args...) + "\n" + p.Batch.Script, Sensitive: sensitive})
	}
	return out, groups
}

// split hands each batch's output to its Split and files the members'
// results under their own IDs.
func split(facts modules.Facts, groups map[string][]modules.Probe) error {
	for id, ms := range groups {
		r := facts[id]
		delete(facts, id)
		args := make([]string, len(ms))
		for i, m := range ms {
			args[i] = m.Batch.Arg
		}
		results, err := ms[0].Batch.Split(r.Stdout, args)
		if err == nil && len(results) != len(ms) {
			err = fmt.Errorf("%d results for %d probes", len(results), len(ms))
		}
		if err != nil {
			return fmt.Errorf("%w: batch %s: %w", ErrIncomplete, strings.TrimPrefix(id, batchPrefix), err)
		}
		for i, m := range ms {
			facts[m.ID] = results[i]
		}
	}
	return nil
}

// dedupe keeps the first probe of each ID, in order. A command marked
// sensitive by any of its declarers stays out of the conflict message.
func dedupe(probes []modules.Probe) ([]modules.Probe, error) {
	seen := make(map[string]int, len(probes))
	out := make([]modules.Probe, 0, len(probes))
	for _, p := range probes {
		i, ok := seen[p.ID]
		if !ok {
			seen[p.ID] = len(out)
			out = append(out, p)
			continue
		}
		first := out[i]
		if first.Command != p.Command {
			if first.Sensitive || p.Sensitive {
				return nil, fmt.Errorf("%w: %q (commands not shown: sensitive)", ErrConflict, p.ID)
			}
			return nil, fmt.Errorf("%w: %q runs both %q and %q", ErrConflict, p.ID, first.Command, p.Command)
		}
		out[i].Sensitive = first.Sensitive || p.Sensitive
	}
	return out, nil
}

// newToken returns a fresh random token. 128 bits: no probe output can
// contain it except by reading it from the script itself.
func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("probe token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// tokenVar holds the token in the script. Probes run in subshells of the
// script and see its variables, so the name is one no probe would use.
const tokenVar = "_opsrun_tok"

// Script returns the POSIX sh script that runs probes in order and frames
// each one's stdout with lines carrying token:
//
//	TOKEN B i\n<stdout, byte for byte>\nTOKEN E i STATUS\n
//
// The newline before the end line is always added (and Parse always
// removes it), so output without a final newline, or ending in several,
// comes back exact.
//
// Each probe runs as `(eval 'COMMAND') </dev/null 2>/dev/null`: in a
// subshell, so `exit`, `cd` or `set -e` in one probe cannot touch the
// next; with stdin from /dev/null, so no probe reads the rest of the script
// (which sh is reading from its stdin); and as a quoted string handed to
// eval, so a probe with a syntax error (an unbalanced quote, a stray `)`)
// fails alone (non-zero status) instead of swallowing the probes after it.
//
// The token is assembled from two halves at run time so that the script's
// own text never contains it: a probe that prints the script (`ps`
// output, /proc/PID/cmdline if the script ever travels in argv) cannot
// forge a frame.
func Script(probes []modules.Probe, token string) string {
	var b strings.Builder
	half := len(token) / 2
	b.WriteString(tokenVar + "=" + transport.ShellQuote(token[:half]) + "; " + tokenVar + "=${" + tokenVar + "}" + transport.ShellQuote(token[half:]) + "\n")
	for i, p := range probes {
		n := strconv.Itoa(i)
		b.WriteString(`printf '%s B ` + n + `\n' "$` + tokenVar + `"; (eval ` + transport.ShellQuote(p.Command) +
			`) </dev/null 2>/dev/null; printf '\n%s E ` + n + ` %d\n' "$` + tokenVar + `" "$?"` + "\n")
	}
	return b.String()
}

// Parse reads the output of Script: ids[i] is the ID of the i-th probe.
// Bytes outside the frames (there should be none) are ignored. It never
// panics, whatever out holds; a missing or damaged frame is ErrIncomplete.
func Parse(out []byte, token string, ids []string) (modules.Facts, error) {
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return nil, fmt.Errorf("probe: token %q cannot frame output", token)
	}
	facts := make(modules.Facts, len(ids))
	rest := out
	for i, id := range ids {
		n := strconv.Itoa(i)
		begin := []byte(token + " B " + n + "\n")
		k := bytes.Index(rest, begin)
		if k < 0 {
			return nil, fmt.Errorf("%w: no result for probe %q (%d of %d)", ErrIncomplete, id, i+1, len(ids))
		}
		body := rest[k+len(begin):]
		end := []byte("\n" + token + " E " + n + " ")
		e := bytes.Index(body, end)
		if e < 0 {
			return nil, fmt.Errorf("%w: probe %q (%d of %d) did not finish", ErrIncomplete, id, i+1, len(ids))
		}
		tail := body[e+len(end):]
		nl := bytes.IndexByte(tail, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("%w: probe %q (%d of %d) has no exit status", ErrIncomplete, id, i+1, len(ids))
		}
		status, err := strconv.Atoi(string(tail[:nl]))
		if err != nil || status < 0 || status > 255 || string(tail[:nl]) != strconv.Itoa(status) {
			return nil, fmt.Errorf("%w: probe %q (%d of %d) has a bad exit status %q", ErrIncomplete, id, i+1, len(ids), tail[:nl])
		}
		facts[id] = modules.ProbeResult{Stdout: string(body[:e]), ExitStatus: status}
		rest = tail[nl+1:]
	}
	return facts, nil
}

// stderrNote quotes the end of the script's stderr: probes' stderr is
// discarded, so anything there is the shell's own complaint.
func stderrNote(stderr []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(stderr), "\uFFFD"))
	if s == "" {
		return ""
	}
	if len(s) > maxStderr {
		s = "..." + strings.ToValidUTF8(s[len(s)-maxStderr:], "")
	}
	return ", stderr: " + s
}
