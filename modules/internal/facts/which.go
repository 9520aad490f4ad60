package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// WhichProbe asks which of names the host can run, with the PATH the
// engine's commands get (root's, through sudo). `command -v` is a shell
// builtin in dash, bash and busybox ash, so the probe starts no process;
// it prints each name found on a line of its own, in the order asked.
func WhichProbe(names ...string) modules.Probe {
	return modules.Probe{
		ID: "which:" + strings.Join(names, " "),
		Command: "for c in " + transport.ShellJoin(names...) +
			`; do if command -v "$c" >/dev/null 2>&1; then echo "$c"; fi; done`,
	}
}

// ParseWhich parses WhichProbe output into the set of names found. A name
// the probe was not asked about is garbage: an error, so that a broken
// shell cannot make a missing tool look present.
func ParseWhich(r modules.ProbeResult, names ...string) (map[string]bool, error) {
	asked := make(map[string]bool, len(names))
	for _, n := range names {
		asked[n] = true
	}
	found := map[string]bool{}
	for _, l := range lines(r.Stdout) {
		if !asked[l] {
			return nil, fmt.Errorf("command -v probe printed %s, want one of %s", short(l), strings.Join(names, ", "))
		}
		found[l] = true
	}
	return found, nil
}
