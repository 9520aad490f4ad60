// Package watch is the metrics half of `opsrun watch`: it samples each
// instance's CPU, load, memory and process count from /proc over one SSH
// round trip and reduces them to OpsWorks' 15 per-host metrics, plus a
// per-layer average, so the numbers mean what OpsWorks users expect.
package watch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrParse is wrapped by every error about output that is not what the
// sampling script prints (a host without /proc, a truncated answer).
var ErrParse = errors.New("unreadable /proc sample")

// Metrics are OpsWorks' per-host metrics. CPU figures are percentages of
// the interval between the two /proc/stat samples; memory figures are KiB,
// as /proc/meminfo gives them.
type Metrics struct {
	CPUIdle, CPUNice, CPUSystem, CPUUser, CPUWaitIO float64
	Load1, Load5, Load15                            float64
	MemoryBuffers, MemoryCached, MemoryFree         float64
	MemorySwap, MemoryTotal, MemoryUsed             float64
	Procs                                           float64
}

// Datum is one named metric value, as printed and pushed.
type Datum struct {
	Name  string
	Value float64
}

// Datums lists m's 15 metrics under OpsWorks' names, in a fixed order.
func (m Metrics) Datums() []Datum {
	return []Datum{
		{"cpu_idle", m.CPUIdle},
		{"cpu_nice", m.CPUNice},
		{"cpu_system", m.CPUSystem},
		{"cpu_user", m.CPUUser},
		{"cpu_waitio", m.CPUWaitIO},
		{"load_1", m.Load1},
		{"load_5", m.Load5},
		{"load_15", m.Load15},
		{"memory_buffers", m.MemoryBuffers},
		{"memory_cached", m.MemoryCached},
		{"memory_free", m.MemoryFree},
		{"memory_swap", m.MemorySwap},
		{"memory_total", m.MemoryTotal},
		{"memory_used", m.MemoryUsed},
		{"procs", m.Procs},
	}
}

// fields lists m's metrics as pointers in Datums' order, so averaging
// needs no per-field code.
func (m *Metrics) fields() []*float64 {
	return []*float64{
		&m.CPUIdle, &m.CPUNice, &m.CPUSystem, &m.CPUUser, &m.CPUWaitIO,
		&m.Load1, &m.Load5, &m.Load15,
		&m.MemoryBuffers, &m.MemoryCached, &m.MemoryFree, &m.MemorySwap, &m.MemoryTotal, &m.MemoryUsed,
		&m.Procs,
	}
}

// script prints the samples Parse reads, each section under a "## name"
// marker. It uses only POSIX sh and sleep, so any Linux host answers. procs
// counts /proc's numeric directories (processes, not threads, which is
// what loadavg's fourth field counts).
const script = `LC_ALL=C; export LC_ALL
echo '## stat1'; read -r l < /proc/stat; echo "$l"
sleep 1
echo '## stat2'; read -r l < /proc/stat; echo "$l"
echo '## loadavg'; read -r l < /proc/loadavg; echo "$l"
echo '## meminfo'; while IFS= read -r l; do echo "$l"; done < /proc/meminfo
set -- /proc/[0-9]*; echo '## procs'; echo "$#"
`

// Parse reduces the sampling script's output to Metrics.
func Parse(out []byte) (Metrics, error) {
	sections := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "## "); ok {
			cur = name
			sections[cur] = []string{}
			continue
		}
		if cur != "" && line != "" {
			sections[cur] = append(sections[cur], line)
		}
	}
	if err := sc.Err(); err != nil {
		return Metrics{}, fmt.Errorf("%w: %v", ErrParse, err)
	}
	one := func(name string) (string, error) {
		if len(sections[name]) != 1 {
			return "", fmt.Errorf("%w: section %q has %d lines, want 1", ErrParse, name, len(sections[name]))
		}
		return sections[name][0], nil
	}
	var m Metrics
	s1, err := one("stat1")
	if err != nil {
		return m, err
	}
	s2, err := one("stat2")
	if err != nil {
		return m, err
	}
	if err := parseCPU(&m, s1, s2); err != nil {
		return m, err
	}
	la, err := one("loadavg")
	if err != nil {
		return m, err
	}
	if err := parseLoad(&m, la); err != nil {
		return m, err
	}
	if err := parseMeminfo(&m, sections["meminfo"]); err != nil {
		return m, err
	}
	p, err := one("procs")
	if err != nil {
		return m, err
	}
	if m.Procs, err = strconv.ParseFloat(p, 64); err != nil {
		return m, fmt.Errorf("%w: process count %q", ErrParse, p)
	}
	return m, nil
}

// cpuTimes reads /proc/stat's aggregate "cpu" line. Kernels differ in how
// many columns they print (4 on 2.4, 8 to 10 later, possibly more in
// future); columns past steal (guest, guest_nice, anything newer) are
// skipped because guest time is already counted in user and nice.
func cpuTimes(line string) ([8]uint64, error) {
	var t [8]uint64
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return t, fmt.Errorf("%w: not an aggregate cpu line: %q", ErrParse, line)
	}
	for i, s := range f[1:] {
		if i >= len(t) {
			break
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return t, fmt.Errorf("%w: cpu column %d %q", ErrParse, i+1, s)
		}
		t[i] = v
	}
	return t, nil
}

// parseCPU sets the cpu_* percentages from two samples. irq and softirq
// count as system time (kernel work); steal counts in the total only, so
// on a starved VM the five do not add up to 100, which is the truth.
func parseCPU(m *Metrics, first, second string) error {
	a, err := cpuTimes(first)
	if err != nil {
		return err
	}
	b, err := cpuTimes(second)
	if err != nil {
		return err
	}
	var d [8]float64
	var total float64
	for i := range d {
		// iowait may go backwards on tickless kernels: a negative delta is 0.
		if b[i] > a[i] {
			d[i] = float64(b[i] - a[i])
		}
		total += d[i]
	}
	if total == 0 {
		return fmt.Errorf("%w: no CPU time passed between the two /proc/stat samples", ErrParse)
	}
	pct := func(v float64) float64 { return math.Round(v/total*10000) / 100 }
	m.CPUUser, m.CPUNice, m.CPUSystem = pct(d[0]), pct(d[1]), pct(d[2]+d[5]+d[6])
	m.CPUIdle, m.CPUWaitIO = pct(d[3]), pct(d[4])
	return nil
}

func parseLoad(m *Metrics, line string) error {
	f := strings.Fields(line)
	if len(f) < 3 {
		return fmt.Errorf("%w: loadavg %q", ErrParse, line)
	}
	for i, p := range []*float64{&m.Load1, &m.Load5, &m.Load15} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || v < 0 {
			return fmt.Errorf("%w: loadavg %q", ErrParse, line)
		}
		*p = v
	}
	return nil
}

// parseMeminfo sets the memory_* figures. OpsWorks' used is what
// applications hold: total - free - buffers - cached. Kernels without swap
// still print SwapTotal/SwapFree as 0; a missing key is an error rather
// than a silent 0.
func parseMeminfo(m *Metrics, lines []string) error {
	kb := map[string]float64{}
	for _, l := range lines {
		key, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return fmt.Errorf("%w: meminfo line %q", ErrParse, l)
		}
		if len(f) > 1 && f[1] != "kB" {
			return fmt.Errorf("%w: meminfo line %q: unit is not kB", ErrParse, l)
		}
		kb[key] = v
	}
	for _, k := range []string{"MemTotal", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree"} {
		if _, ok := kb[k]; !ok {
			return fmt.Errorf("%w: /proc/meminfo has no %s", ErrParse, k)
		}
	}
	m.MemoryTotal, m.MemoryFree = kb["MemTotal"], kb["MemFree"]
	m.MemoryBuffers, m.MemoryCached = kb["Buffers"], kb["Cached"]
	m.MemorySwap = max(kb["SwapTotal"]-kb["SwapFree"], 0)
	m.MemoryUsed = max(m.MemoryTotal-m.MemoryFree-m.MemoryBuffers-m.MemoryCached, 0)
	return nil
}
