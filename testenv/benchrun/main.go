// Command benchrun measures what opsrun is built for: a lifecycle event on
// a fleet where nothing needs to change (the cron-every-few-minutes drift
// check). It brings up N light hosts, converges a stack of S idempotent
// resources once, then times `opsrun run` again, median of several runs,
// beside the floor of `opsrun exec -- true` (one handshake and one round
// trip per host). Run it with `make bench-run`; it removes its fleet.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opsrun/opsrun/testenv"
)

func main() {
	opsrun := flag.String("opsrun", "bin/opsrun", "opsrun binary to measure")
	hosts := flag.Int("hosts", 50, "fleet size")
	steps := flag.Int("steps", 20, "idempotent resources in the stack")
	rounds := flag.Int("rounds", 5, "timed runs (the median is reported)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, *opsrun, *hosts, *steps, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// stackSource is S resources that converge on a bare sshd host: files,
// directories and guarded commands, as a drift-correcting recipe has.
func stackSource(steps int) string {
	var b strings.Builder
	b.WriteString("stack \"bench\" {\n  become = true\n}\n\nlayer \"app\" {\n  on \"configure\" {\n")
	for i := range steps {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "    directory \"d%d\" {\n      path = \"/srv/bench/d%d\"\n    }\n", i, i)
		case 1:
			fmt.Fprintf(&b, "    file \"f%d\" {\n      path    = \"/srv/bench/f%d.conf\"\n      content = \"host=${host.hostname}\\nstep=%d\\n\"\n      mode    = \"0640\"\n    }\n", i, i, i)
		default:
			fmt.Fprintf(&b, "    command \"c%d\" {\n      command = \"touch /srv/bench/c%d\"\n      creates = \"/srv/bench/c%d\"\n    }\n", i, i, i)
		}
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

func bench(ctx context.Context, opsrun string, n, steps, rounds int) (err error) {
	bin, err := filepath.Abs(opsrun)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "opsrun-benchrun-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	stackDir := filepath.Join(dir, "stack")
	if err := os.MkdirAll(stackDir, 0o755); err != nil {
		return err
	}
	// The parent directory first, so the first directory resource has a place.
	src := strings.Replace(stackSource(steps), "  on \"configure\" {\n", "  on \"configure\" {\n    directory \"root\" {\n      path = \"/srv/bench\"\n    }\n", 1)
	if err := os.WriteFile(filepath.Join(stackDir, "stack.hcl"), []byte(src), 0o644); err != nil {
		return err
	}
	name := fmt.Sprintf("benchrun-%d", os.Getpid())
	fleetDir := filepath.Join(dir, "fleet")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fleet, err := testenv.Up(ctx, testenv.Spec{Name: name, Layers: []testenv.LayerCount{{Layer: "app", Count: n}}, Init: "sshd", Dir: fleetDir}, log)
	if err != nil {
		return err
	}
	defer func() {
		if derr := testenv.Down(context.Background(), name, fleetDir); derr != nil && err == nil {
			err = derr
		}
	}()
	runArgs := []string{"run", "configure", stackDir, "-i", fleet.InventoryPath, "--ssh-config", "none", "--forks", strconv.Itoa(n), "-o", "json"}
	floorArgs := []string{"exec", "-i", fleet.InventoryPath, "--ssh-config", "none", "--forks", strconv.Itoa(n), "-o", "json", "--", "true"}
	if _, err := timed(ctx, bin, runArgs, false); err != nil { // converge
		return fmt.Errorf("first run: %w", err)
	}
	var runs, floors []time.Duration
	for range rounds {
		d, err := timed(ctx, bin, runArgs, true)
		if err != nil {
			return err
		}
		runs = append(runs, d)
		d, err = timed(ctx, bin, floorArgs, false)
		if err != nil {
			return err
		}
		floors = append(floors, d)
	}
	r, f := median(runs), median(floors)
	fmt.Printf("%d hosts, %d idempotent resources (+1), nothing to change:\n", n, steps)
	fmt.Printf("  opsrun run configure   %8s\n", r.Round(time.Millisecond))
	fmt.Printf("  floor: exec -- true    %8s   (one handshake + one round trip per host)\n", f.Round(time.Millisecond))
	fmt.Printf("  run / floor            %8.2fx\n", float64(r)/float64(f))
	return nil
}

// changedSome finds a non-zero "changed" count in run events.
var changedSome = regexp.MustCompile(`"changed":[1-9]`)

// timed runs opsrun and fails unless it exits 0; with idempotent, also
// when the run changed anything (the point is the run with nothing to do).
func timed(ctx context.Context, bin string, args []string, idempotent bool) (time.Duration, error) {
	c := exec.CommandContext(ctx, bin, args...)
	var out, stderr strings.Builder
	c.Stdout, c.Stderr = &out, &stderr
	start := time.Now()
	err := c.Run()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), args[0], err, strings.TrimSpace(stderr.String()))
	}
	if args[0] == "run" && !strings.Contains(out.String(), `"type":"run_end"`) {
		return 0, fmt.Errorf("run printed no run_end event")
	}
	if idempotent && changedSome.MatchString(out.String()) {
		return 0, fmt.Errorf("a run that should change nothing changed something")
	}
	return d, nil
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}
