package watch

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// sampleOut is what the script printed on a 5.15 kernel (10 cpu columns),
// trimmed to the meminfo keys Parse needs plus one it ignores.
const sampleOut = `## stat1
cpu  1000 100 300 8000 200 50 50 0 0 0
## stat2
cpu  1100 110 340 8800 230 55 65 0 0 0
## loadavg
0.52 0.34 0.15 2/311 12345
## meminfo
MemTotal:        2000000 kB
MemFree:          500000 kB
MemAvailable:    1200000 kB
Buffers:          100000 kB
Cached:           400000 kB
SwapTotal:       1000000 kB
SwapFree:         750000 kB
HugePages_Total:       0
## procs
123
`

func TestParse(t *testing.T) {
	m, err := Parse([]byte(sampleOut))
	if err != nil {
		t.Fatal(err)
	}
	// Deltas: user 100, nice 10, system 40 + irq 5 + softirq 15, idle 800,
	// iowait 30: total 1000.
	want := Metrics{
		CPUUser: 10, CPUNice: 1, CPUSystem: 6, CPUIdle: 80, CPUWaitIO: 3,
		Load1: 0.52, Load5: 0.34, Load15: 0.15,
		MemoryTotal: 2000000, MemoryFree: 500000, MemoryBuffers: 100000, MemoryCached: 400000,
		MemorySwap: 250000, MemoryUsed: 1000000, Procs: 123,
	}
	if m != want {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
	if d := m.Datums(); len(d) != 15 || d[0].Name != "cpu_idle" || d[12] != (Datum{"memory_total", 2000000}) {
		t.Errorf("datums %v", d)
	}
}

func TestParseKernelColumns(t *testing.T) {
	for name, lines := range map[string][2]string{
		// 2.4: user nice system idle only.
		"four columns": {"cpu 100 0 100 800", "cpu 200 0 200 1600"},
		// A future kernel with columns past guest_nice: ignored.
		"extra columns": {"cpu 100 0 100 800 0 0 0 0 7 7 99 99", "cpu 200 0 200 1600 0 0 0 0 9 9 999 999"},
	} {
		t.Run(name, func(t *testing.T) {
			out := strings.Replace(strings.Replace(sampleOut, "cpu  1000 100 300 8000 200 50 50 0 0 0", lines[0], 1), "cpu  1100 110 340 8800 230 55 65 0 0 0", lines[1], 1)
			m, err := Parse([]byte(out))
			if err != nil {
				t.Fatal(err)
			}
			if m.CPUUser != 10 || m.CPUSystem != 10 || m.CPUIdle != 80 || m.CPUNice != 0 || m.CPUWaitIO != 0 {
				t.Errorf("%+v", m)
			}
		})
	}
}

func TestParseStealAndBackwardsIOWait(t *testing.T) {
	// steal 100 of 1000 counts in the total only; iowait going backwards
	// (tickless kernels) reads as 0, not a negative percentage.
	out := strings.Replace(strings.Replace(sampleOut, "cpu  1000 100 300 8000 200 50 50 0 0 0", "cpu 0 0 0 0 500 0 0 0", 1), "cpu  1100 110 340 8800 230 55 65 0 0 0", "cpu 100 0 0 800 400 0 0 100", 1)
	m, err := Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if m.CPUUser != 10 || m.CPUIdle != 80 || m.CPUWaitIO != 0 {
		t.Errorf("%+v", m)
	}
	sum := m.CPUIdle + m.CPUNice + m.CPUSystem + m.CPUUser + m.CPUWaitIO
	if math.Abs(sum-90) > 0.01 {
		t.Errorf("cpu sum %v, want 90 (10%% stolen)", sum)
	}
}

func TestParseUsedNeverNegative(t *testing.T) {
	out := strings.Replace(sampleOut, "Cached:           400000 kB", "Cached:          1900000 kB", 1)
	m, err := Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if m.MemoryUsed != 0 {
		t.Errorf("used %v", m.MemoryUsed)
	}
}

func TestParseErrors(t *testing.T) {
	for name, out := range map[string]string{
		"empty":           "",
		"no second stat":  strings.Replace(sampleOut, "## stat2\ncpu  1100 110 340 8800 230 55 65 0 0 0\n", "", 1),
		"same sample":     strings.Replace(sampleOut, "cpu  1100 110 340 8800 230 55 65 0 0 0", "cpu  1000 100 300 8000 200 50 50 0 0 0", 1),
		"per-cpu line":    strings.Replace(sampleOut, "cpu  1000", "cpu0 1000", 1),
		"bad number":      strings.Replace(sampleOut, "cpu  1000", "cpu  x", 1),
		"bad loadavg":     strings.Replace(sampleOut, "0.52 0.34 0.15", "0.52", 1),
		"negative load":   strings.Replace(sampleOut, "0.52 0.34", "-1 0.34", 1),
		"no MemTotal":     strings.Replace(sampleOut, "MemTotal:", "MemTotalX:", 1),
		"no swap keys":    strings.Replace(sampleOut, "SwapFree:", "Swapfree:", 1),
		"odd unit":        strings.Replace(sampleOut, "500000 kB", "500000 MB", 1),
		"bad procs":       strings.Replace(sampleOut, "\n123\n", "\nmany\n", 1),
		"two procs lines": sampleOut + "124\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(out)); !errors.Is(err, ErrParse) {
				t.Errorf("err %v, want ErrParse", err)
			}
		})
	}
}
