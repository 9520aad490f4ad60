package inventory

import (
	"errors"
	"strings"
	"testing"
)

func testInventory() *Inventory {
	mk := func(name string, layers ...string) *Host { return &Host{Name: name, Layers: layers} }
	return &Inventory{Hosts: []*Host{
		mk("app-1", "app"), mk("app-2", "app"), mk("app-3", "app", "monitoring"),
		mk("db-1", "db", "monitoring"), mk("lb-1", "lb"),
	}}
}

func names(hs []*Host) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.Name)
	}
	return strings.Join(s, ",")
}

func TestSelect(t *testing.T) {
	inv := testInventory()
	for _, tc := range []struct{ pattern, want string }{
		{"", "app-1,app-2,app-3,db-1,lb-1"},
		{"all", "app-1,app-2,app-3,db-1,lb-1"},
		{"*", "app-1,app-2,app-3,db-1,lb-1"},
		{"app-*", "app-1,app-2,app-3"},
		{"app", "app-1,app-2,app-3"},
		{"db,lb", "db-1,lb-1"},
		{"lb-1, db-1", "db-1,lb-1"}, // inventory order, not pattern order
		{"app,!app-2", "app-1,app-3"},
		{"!app", "db-1,lb-1"},
		{"app,&monitoring", "app-3"},
		{"app-[12]", "app-1,app-2"},
		{"monitoring,!db", "app-3"},
		{"zzz*,db-1", "db-1"}, // a glob may match nothing if the whole pattern matches something
	} {
		got, err := inv.Select(tc.pattern)
		if err != nil {
			t.Errorf("Select(%q): %v", tc.pattern, err)
			continue
		}
		if names(got) != tc.want {
			t.Errorf("Select(%q) = %s, want %s", tc.pattern, names(got), tc.want)
		}
	}
}

func TestSelectErrors(t *testing.T) {
	inv := testInventory()
	for _, tc := range []struct{ pattern, want string }{
		{"web", `"web" names no host and no layer; hosts: app-1`},
		{"zzz*", "selects no host"},
		{"app,&db", "selects no host"},
		{"app,,db", "empty term"},
		{"app-[", "not a valid glob"},
	} {
		_, err := inv.Select(tc.pattern)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Select(%q) error = %v, want it to contain %q", tc.pattern, err, tc.want)
		}
	}
	if _, err := inv.Select("web"); !errors.Is(err, ErrNoMatch) {
		t.Errorf("want ErrNoMatch identity, got %v", err)
	}
	if _, err := (&Inventory{}).Select("all"); err == nil || !strings.Contains(err.Error(), "no hosts") {
		t.Errorf("empty inventory: %v", err)
	}
}
