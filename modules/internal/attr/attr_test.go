package attr

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
)

func TestParseMode(t *testing.T) {
	for s, want := range map[string]uint32{"644": 0o644, "0644": 0o644, "4755": 0o4755, "1777": 0o1777, "0000": 0} {
		if got, err := ParseMode(s); err != nil || got != want {
			t.Errorf("%q: %o, %v; want %o", s, got, err, want)
		}
	}
	for _, s := range []string{"", "64", "00644", "0648", "abc", "-644", "+644", "0x1f", "7777 "} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func TestFileMode(t *testing.T) {
	for m, want := range map[uint32]fs.FileMode{
		0o644:  0o644,
		0o4755: 0o755 | fs.ModeSetuid,
		0o2775: 0o775 | fs.ModeSetgid,
		0o1777: 0o777 | fs.ModeSticky,
	} {
		if got := FileMode(m); got != want {
			t.Errorf("%o: %v, want %v", m, got, want)
		}
	}
}

func TestReader(t *testing.T) {
	schema := []modules.Attr{
		{Name: "s", Type: cty.String, Default: cty.StringVal("dflt")},
		{Name: "req", Type: cty.String, Required: true},
		{Name: "b", Type: cty.Bool},
		{Name: "l", Type: cty.DynamicPseudoType},
		{Name: "m", Type: cty.Map(cty.String)},
	}
	r := NewReader(modules.Config{Attrs: map[string]cty.Value{
		"s": cty.NullVal(cty.String),
		"b": cty.True,
		"l": cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
		"m": cty.MapVal(map[string]cty.Value{"K": cty.StringVal("v")}),
	}}, schema)
	if s, set := r.String("s"); s != "dflt" || !set {
		t.Errorf("default not applied: %q %v", s, set)
	}
	if b, set := r.Bool("b"); !b || !set {
		t.Error("bool")
	}
	if l := r.Strings("l"); len(l) != 2 || l[1] != "b" {
		t.Errorf("list %q", l)
	}
	if m := r.StringMap("m"); m["K"] != "v" {
		t.Errorf("map %v", m)
	}
	_ = r.Required("req")
	var ae *modules.AttrError
	if err := r.Err(); !errors.As(err, &ae) || ae.Attr != "req" || err.Error() != "req: is required" {
		t.Errorf("err %v", err)
	}
}

func TestNUL(t *testing.T) {
	r := NewReader(modules.Config{Attrs: map[string]cty.Value{"p": cty.StringVal("/etc/x\x00y")}}, nil)
	if p := r.AbsPath("p", true); p != "" || r.Err() == nil {
		t.Errorf("NUL accepted: %q", p)
	}
}

func TestAccount(t *testing.T) {
	for s, ok := range map[string]bool{
		"root": true, "www-data": true, "_apt": true, "1000": true, "MACHINE$": true, "a.b": true,
		"-r": false, "a:b": false, "a b": false, "": false, "é": false, "0abc": false,
	} {
		r := NewReader(modules.Config{Attrs: map[string]cty.Value{"o": cty.StringVal(s)}}, nil)
		r.Account("o")
		if (r.Err() == nil) != ok {
			t.Errorf("%q: accepted %v, want %v", s, r.Err() == nil, ok)
		}
	}
}
