// Command benchexec measures `opsrun exec -- true` against the same fan-out
// done with the OpenSSH client (xargs -P N ssh), on fleets of light test
// hosts, in one run so both see the same machine. It prints wall times, the
// ratio, and the client side's CPU time and peak RSS. Run it with
// `make bench-exec`; it removes the fleets it starts.
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
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opsrun/opsrun/testenv"
)

func main() {
	opsrun := flag.String("opsrun", "bin/opsrun", "opsrun binary to measure")
	sizes := flag.String("sizes", "30,100", "fleet sizes, comma-separated")
	rounds := flag.Int("rounds", 5, "timed runs of each tool per size (the median is reported)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *opsrun, *sizes, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "benchexec:", err)
		os.Exit(1)
	}
}

type sample struct {
	wall, cpu time.Duration
	maxRSSKiB int64
}

func run(ctx context.Context, opsrun, sizes string, rounds int) error {
	bin, err := filepath.Abs(opsrun)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("opsrun binary: %w (run make build first)", err)
	}
	fmt.Printf("%-6s %-8s %10s %10s %10s %12s %10s\n", "hosts", "client", "wall", "cpu", "peak RSS", "RSS/host", "ratio")
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad size %q", s)
		}
		if err := benchSize(ctx, bin, n, rounds); err != nil {
			return err
		}
	}
	return nil
}

func benchSize(ctx context.Context, bin string, n, rounds int) (err error) {
	dir, err := os.MkdirTemp("", "opsrun-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	name := fmt.Sprintf("bench%d-%d", n, os.Getpid())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fleet, err := testenv.Up(ctx, testenv.Spec{Name: name, Hosts: n, Init: "sshd", Dir: dir}, log)
	if err != nil {
		return fmt.Errorf("fleet of %d: %w", n, err)
	}
	defer func() {
		// A fresh context: the fleet must go even after Ctrl-C.
		if derr := testenv.Down(context.Background(), name, dir); derr != nil && err == nil {
			err = derr
		}
	}()

	var names []string
	for _, h := range fleet.Hosts {
		names = append(names, h.Name)
	}
	opsrunCmd := func() *exec.Cmd {
		return exec.CommandContext(ctx, bin, "exec", "-i", fleet.InventoryPath, "--forks", strconv.Itoa(n), "--output", "json", "--", "true")
	}
	sshCmd := func() *exec.Cmd {
		c := exec.CommandContext(ctx, "xargs", "-P", strconv.Itoa(n), "-I{}", "ssh", "-F", fleet.SSHConfigPath, "{}", "true")
		c.Stdin = strings.NewReader(strings.Join(names, "\n") + "\n")
		return c
	}
	// One untimed run each warms the page cache and sshd's first fork.
	for _, mk := range []func() *exec.Cmd{opsrunCmd, sshCmd} {
		if _, err := measure(mk()); err != nil {
			return err
		}
	}
	var ops, ssh []sample
	for range rounds {
		o, err := measure(opsrunCmd())
		if err != nil {
			return fmt.Errorf("opsrun exec: %w", err)
		}
		s, err := measure(sshCmd())
		if err != nil {
			return fmt.Errorf("xargs ssh: %w", err)
		}
		ops, ssh = append(ops, o), append(ssh, s)
	}
	o, s := median(ops), median(ssh)
	fmt.Printf("%-6d %-8s %10s %10s %8.1fMiB %10.0fKiB %10s\n", n, "openssh", s.wall.Round(time.Millisecond), s.cpu.Round(time.Millisecond), float64(s.maxRSSKiB)/1024, float64(s.maxRSSKiB)/float64(n), "")
	fmt.Printf("%-6d %-8s %10s %10s %8.1fMiB %10.0fKiB %9.2fx\n", n, "opsrun", o.wall.Round(time.Millisecond), o.cpu.Round(time.Millisecond), float64(o.maxRSSKiB)/1024, float64(o.maxRSSKiB)/float64(n), float64(o.wall)/float64(s.wall))
	return nil
}

// measure runs c and reports its wall time and, from wait4's rusage, the CPU
// time of it and every process it waited for (all the ssh clients under
// xargs) and the largest resident set among them.
func measure(c *exec.Cmd) (sample, error) {
	var stderr strings.Builder
	c.Stdout = io.Discard
	c.Stderr = &stderr
	start := time.Now()
	err := c.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{wall: wall}, nil
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return sample{wall: wall, cpu: cpu, maxRSSKiB: ru.Maxrss}, nil
}

func median(s []sample) sample {
	sort.Slice(s, func(i, j int) bool { return s[i].wall < s[j].wall })
	return s[len(s)/2]
}
