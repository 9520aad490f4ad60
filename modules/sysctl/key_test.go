package sysctl

import (
	"slices"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules/internal/textedit"
)

func TestParseKey(t *testing.T) {
	for _, c := range []struct{ in, name, path, err string }{
		{"net.ipv4.ip_forward", "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward", ""},
		{"net/ipv4/ip_forward", "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward", ""},
		{"net.ipv4.conf.eth0/100.rp_filter", "net.ipv4.conf.eth0/100.rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter", ""},
		{"net/ipv4/conf/eth0.100/rp_filter", "net.ipv4.conf.eth0/100.rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter", ""},
		{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-iptables", "/proc/sys/net/bridge/bridge-nf-call-iptables", ""},
		{"fs.file-max", "fs.file-max", "/proc/sys/fs/file-max", ""},
		{"kernel", "", "", "is not a sysctl key"},
		{"", "", "", "is not a sysctl key"},
		{"net.ipv4.", "", "", `(level "")`},
		{".net.ipv4", "", "", `(level "")`},
		{"net/ipv4/../../../etc", "", "", `(level "..")`},
		{"net.ipv4./..", "", "", `(level ".")`},
		{"-net.ipv4.ip_forward", "", "", `(level "-net")`},
		{"net.ipv4.*.rp_filter", "", "", `(level "*")`},
		{"net.ipv4.a b", "", "", `(level "a b")`},
	} {
		k, err := parseKey(c.in)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %+v, %v; want error %q", c.in, k, err, c.err)
			}
		case err != nil || k.name != c.name || k.path != c.path:
			t.Errorf("%q: %+v, %v; want %s %s", c.in, k, err, c.name, c.path)
		}
	}
}

// FuzzParseKey: an accepted key's path stays under /proc/sys with no
// . or .. component, and its dotted name parses back to the same key.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"net.ipv4.ip_forward", "net/ipv4/conf/eth0.100/rp_filter", "a./..b", "a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseKey(s)
		if err != nil {
			return
		}
		for _, c := range strings.Split(strings.TrimPrefix(k.path, "/proc/sys/"), "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("%q: path %q has component %q", s, k.path, c)
			}
		}
		again, err := parseKey(k.name)
		if err != nil || again != k {
			t.Fatalf("%q: %+v, then %+v, %v", s, k, again, err)
		}
	})
}

// FuzzEdit: writing the key is idempotent and leaves it set once to the
// value; removing it leaves no assignment of it and keeps the other lines.
func FuzzEdit(f *testing.F) {
	f.Add("# x\nnet.ipv4.ip_forward = 0\nvm.swappiness=1\n-net/ipv4/ip_forward=1\n", "1")
	f.Add("", "32768 60000")
	f.Add("net.ipv4.ip_forward", "1")
	f.Fuzz(func(t *testing.T, content, value string) {
		value = normValue(value)
		if value == "" || strings.ContainsAny(value, "\r\n") {
			return // New refuses these values
		}
		k, _ := parseKey("net.ipv4.ip_forward")
		line := k.name + " = " + value
		old := textedit.SplitLines(content)
		once := edit(old, k, value, line)
		if twice := edit(once, k, value, line); !slices.Equal(once, twice) {
			t.Fatalf("not idempotent:\n%q\n%q", once, twice)
		}
		n := 0
		for _, l := range once {
			if lk, v, ok := assignment(l); ok && lk == k {
				n++
				if v != value {
					t.Fatalf("sets %q, want %q: %q", v, value, once)
				}
			}
		}
		if n == 0 {
			t.Fatalf("key not set: %q", once)
		}
		gone := edit(once, k, "", "")
		var others []string
		for _, l := range old {
			if lk, _, ok := assignment(l); ok && lk == k {
				continue
			}
			others = append(others, l)
		}
		if !slices.Equal(gone, others) {
			t.Fatalf("removal:\n got %q\nwant %q", gone, others)
		}
	})
}
