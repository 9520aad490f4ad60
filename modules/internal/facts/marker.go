package facts

import (
	"fmt"
	"strings"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/modules"
)

// MarkerMax is the most of a marker file MarkerProbe reads: markers are a
// line or two that opsrun wrote; anything longer is not one of them.
const MarkerMax = 1024

// MarkerProbe reads a small marker file a resource leaves on the host to
// remember what it did (an archive's checksum): "absent", or "present"
// and the file's first MarkerMax bytes. A symbolic link or a directory
// there is not a marker.
func MarkerProbe(path string) modules.Probe {
	q := transport.ShellQuote(path)
	return modules.Probe{
		ID: "marker:" + path,
		Command: "if [ -f " + q + " ] && [ ! -h " + q + " ]; then echo present; head -c " +
			fmt.Sprint(MarkerMax) + " " + q + "; else echo absent; fi",
	}
}

// Marker is what MarkerProbe found.
type Marker struct {
	Present bool
	Content string
}

// ParseMarker parses the output of MarkerProbe.
func ParseMarker(r modules.ProbeResult) (Marker, error) {
	switch {
	case r.Stdout == "absent\n":
		return Marker{}, nil
	case strings.HasPrefix(r.Stdout, "present\n"):
		return Marker{Present: true, Content: r.Stdout[len("present\n"):]}, nil
	}
	return Marker{}, fmt.Errorf("marker probe printed %s, want absent or present (exit status %d)", short(r.Stdout), r.ExitStatus)
}
