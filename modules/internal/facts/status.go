package facts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/opsrun/opsrun/modules"
)

// StatusProbe runs cmd, a guard, in a subshell (an `exit` in it ends only
// the guard) with no input and its output discarded, and prints its exit
// status. Stdin is /dev/null because probes share one
// shell: a guard that reads stdin must not swallow the probes after it.
// The status is printed rather than taken from the probe's own exit so the
// fact does not depend on how the engine wraps probes. The ID is a hash:
// guards are long, and equal guards share one run.
func StatusProbe(kind, cmd string) modules.Probe {
	sum := sha256.Sum256([]byte(cmd))
	return modules.Probe{
		ID:      kind + ":" + hex.EncodeToString(sum[:8]),
		Command: "( " + cmd + "\n) </dev/null >/dev/null 2>&1; echo $?",
	}
}

// ParseStatus parses StatusProbe output: the exit status.
func ParseStatus(r modules.ProbeResult) (int, error) {
	ls := lines(r.Stdout)
	if len(ls) != 1 {
		return 0, fmt.Errorf("guard probe printed %s, want one exit status", short(r.Stdout))
	}
	n, err := strconv.Atoi(strings.TrimSpace(ls[0]))
	if err != nil || n < 0 || n > 255 {
		return 0, fmt.Errorf("guard probe printed %s, want an exit status 0-255", short(ls[0]))
	}
	return n, nil
}
