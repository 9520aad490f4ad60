package cron

import (
	"slices"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/modules/internal/textedit"
)

// FuzzEdit checks the crontab editor on any content: writing the block is
// idempotent and leaves exactly one block, removing it is too, and lines
// outside blocks of the name survive both.
func FuzzEdit(f *testing.F) {
	f.Add("# mine\n#opsrun: x\nA=1\n0 3 * * * a\n15 4 * * * b\n", "x")
	f.Add("#opsrun: x\n#opsrun: x\n#0 * * * * y", "x")
	f.Add("#opsrun: x\r\n\n", "x")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, content, name string) {
		if name == "" || strings.ContainsAny(name, "\r\n") || name != strings.TrimSpace(name) {
			return // New refuses these names
		}
		marker := markerPrefix + name
		block := []string{marker, "MAILTO=ops", "0 3 * * * job"}
		old := textedit.SplitLines(content)
		once, _ := edit(old, marker, block)
		twice, found := edit(once, marker, block)
		if !slices.Equal(once, twice) || found != 1 {
			t.Fatalf("not idempotent (found %d):\n%q\n%q", found, once, twice)
		}
		gone, _ := edit(once, marker, nil)
		if again, found := edit(gone, marker, nil); !slices.Equal(gone, again) || found != 0 {
			t.Fatalf("removal not idempotent (found %d): %q", found, again)
		}
		// Lines that are not markers of this name and not in such a
		// block are kept, in order.
		var outside []string
		for i := 0; i < len(old); {
			if isMarker(old[i], marker) {
				i = blockEnd(old, i)
				continue
			}
			outside = append(outside, old[i])
			i++
		}
		if !slices.Equal(gone, outside) {
			t.Fatalf("removal changed other lines:\n got %q\nwant %q", gone, outside)
		}
		if textedit.JoinLines(textedit.SplitLines(textedit.JoinLines(once))) != textedit.JoinLines(once) {
			t.Fatalf("content does not survive a round trip: %q", once)
		}
	})
}

// FuzzParseSchedule: any accepted schedule is accepted again as written,
// so the entry is stable from run to run, and is one line.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"0 3 * * *", "*/5 1-5 * jan mon-fri", "@reboot", "61 * * * *", "0 3 ? * *", "1,,2 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, err := parseSchedule(s)
		if err != nil {
			return
		}
		again, err := parseSchedule(norm)
		if err != nil || again != norm || strings.ContainsAny(norm, "\n\r\t") {
			t.Fatalf("%q normalised to %q, then %q, %v", s, norm, again, err)
		}
	})
}

func TestParseSchedule(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"0 3 * * *", "0 3 * * *", ""},
		{" 0\t3 *  * * ", "0 3 * * *", ""},
		{"*/15 8-18/2 1,15 jan-jun MON-FRI", "*/15 8-18/2 1,15 jan-jun MON-FRI", ""},
		{"0 0 * * 7", "0 0 * * 7", ""},
		{"@midnight", "@midnight", ""},
		{"@daily 5", "", "an @ schedule is one of"},
		{"@Daily", "", "an @ schedule is one of"},
		{"", "", "is empty"},
		{"1,,2 * * * *", "", `minute field "1,,2" is not a list`},
		{"5 4 * * * *", "", "expected exactly 5 fields, found 6"},
		{"0 24 * * *", "", "end of range (24) above maximum (23)"},
		{"0 0 0 * *", "", "beginning of range (0) below minimum (1)"},
		{"*/0 * * * *", "", "step of range must be a positive number"},
		{"H * * * *", "", `minute field "H" takes numbers only`},
		{"0 0 * * 1#2", "", `day of week field "1#2" is not a list`},
	} {
		got, err := parseSchedule(c.in)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %q, %v; want error %q", c.in, got, err, c.err)
			}
		case err != nil || got != c.want:
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}
