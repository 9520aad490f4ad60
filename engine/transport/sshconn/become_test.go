package sshconn

import (
	"bytes"
	"strings"
	"testing"
)

func fixedBecome(user string, password bool) *become {
	b := &become{user: user, password: password, prompt: "[opsrun-sudo-0123456789ab] password:", marker: "opsrun-become-cdef0123456789ab"}
	if b.user == "" {
		b.user = "root"
	}
	return b
}

func TestBecomeCommandGolden(t *testing.T) {
	tests := []struct {
		user     string
		password bool
		cmd      string
		want     string
	}{
		{"", false, "id -u",
			`sudo -n -H -u root -- sh -c 'printf %s opsrun-become-cdef0123456789ab >&2; exec sh -c "$1"' sh 'id -u'`},
		{"postgres", true, "psql -c 'select 1'",
			`sudo -k -S -p '[opsrun-sudo-0123456789ab] password:' -H -u postgres -- sh -c 'printf %s opsrun-become-cdef0123456789ab >&2; exec sh -c "$1"' sh 'psql -c '"'"'select 1'"'"''`},
		{"o'brien", false, "true",
			`sudo -n -H -u 'o'"'"'brien' -- sh -c 'printf %s opsrun-become-cdef0123456789ab >&2; exec sh -c "$1"' sh true`},
	}
	for _, tc := range tests {
		if got := fixedBecome(tc.user, tc.password).command(tc.cmd); got != tc.want {
			t.Errorf("command(%q)\n got %s\nwant %s", tc.cmd, got, tc.want)
		}
	}
}

func TestNewBecomeTokensAreRandomAndSafe(t *testing.T) {
	a, _ := newBecome("", true)
	b, _ := newBecome("", true)
	if a.marker == b.marker || a.prompt == b.prompt {
		t.Fatal("tokens repeat between commands")
	}
	if a.user != "root" || strings.ContainsAny(a.prompt+a.marker, "%'\"\\$`") {
		t.Fatalf("unsafe tokens or user: %+v", a)
	}
}

// feed writes input to a filter in chunks of size n and returns what came
// out, how many prompts were seen and whether the marker was.
func feed(b *become, input string, n int) (out string, prompts []int, passed bool, sudo string) {
	var buf bytes.Buffer
	f := newStderrFilter(b, &buf, func(i int) { prompts = append(prompts, i) }, nil)
	for len(input) > 0 {
		k := min(n, len(input))
		if w, err := f.Write([]byte(input[:k])); err != nil || w != k {
			panic("short write")
		}
		input = input[k:]
	}
	f.Flush()
	return buf.String(), prompts, f.Passed(), f.SudoOutput()
}

func TestStderrFilter(t *testing.T) {
	b := fixedBecome("", true)
	P, M := b.prompt, b.marker
	tests := []struct {
		name, in, out string
		prompts       int
		passed        bool
		sudo          string
	}{
		{"password accepted", P + M + "warning: x\n", "warning: x\n", 1, true, ""},
		{"no password needed", M + "out", "out", 0, true, ""},
		{"wrong password then retry prompt", P + "Sorry, try again.\n" + P, "Sorry, try again.\n", 2, false, "Sorry, try again."},
		{"refused without marker", "sudo: a password is required\n", "sudo: a password is required\n", 0, false, "sudo: a password is required"},
		{"sudo warning before marker is kept", "sudo: unable to resolve host h\n" + M + "err", "sudo: unable to resolve host h\nerr", 0, true, "sudo: unable to resolve host h"},
		{"tokens after the marker are the command's", M + P + M, P + M, 0, true, ""},
		{"partial token at the end is flushed", "abc" + P[:5], "abc" + P[:5], 0, false, "abc" + P[:5]},
		{"empty", "", "", 0, false, ""},
	}
	for _, tc := range tests {
		for _, n := range []int{1, 2, 3, 7, 1 << 20} {
			out, prompts, passed, sudo := feed(b, tc.in, n)
			if out != tc.out || len(prompts) != tc.prompts || passed != tc.passed || sudo != tc.sudo {
				t.Errorf("%s (chunks of %d): out %q prompts %v passed %v sudo %q; want %q %d %v %q",
					tc.name, n, out, prompts, passed, sudo, tc.out, tc.prompts, tc.passed, tc.sudo)
			}
		}
	}
}

func FuzzStderrFilter(f *testing.F) {
	b := fixedBecome("", true)
	f.Add([]byte(b.prompt+b.marker+"hello"), uint8(3))
	f.Add([]byte("sudo: a password is required\n"), uint8(1))
	f.Add([]byte(b.prompt+"Sorry\n"+b.prompt), uint8(5))
	f.Add([]byte(b.marker[:4]+b.prompt[:9]+b.marker), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		n := int(chunk)%64 + 1
		whole, wp, wpass, _ := feed(b, string(in), len(in)+1)
		got, gp, gpass, _ := feed(b, string(in), n)
		// Chunking must never change the result.
		if got != whole || len(gp) != len(wp) || gpass != wpass {
			t.Fatalf("chunks of %d: %q %v %v; whole: %q %v %v", n, got, gp, gpass, whole, wp, wpass)
		}
		// Output is the input minus prompts before the marker and the marker.
		before, after, found := strings.Cut(string(in), b.marker)
		want := strings.ReplaceAll(before, b.prompt, "")
		if found {
			want += after
		}
		if got != want || gpass != found {
			t.Fatalf("out %q passed %v, want %q %v", got, gpass, want, found)
		}
	})
}
