package testenv

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseLayers(t *testing.T) {
	good := []struct {
		in   string
		want []LayerCount
	}{
		{"", nil},
		{"web:2,db:1", []LayerCount{{"web", 2}, {"db", 1}}},
		{" web : 2 , db ", []LayerCount{{"web", 2}, {"db", 1}}},
		{"app-server:10", []LayerCount{{"app-server", 10}}},
	}
	for _, tc := range good {
		got, err := ParseLayers(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseLayers(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := map[string]string{
		"web:":        "not a positive number",
		"web:0":       "not a positive number",
		"web:-1":      "not a positive number",
		"web:x":       "not a positive number",
		":2":          "empty layer name",
		"web:1,,db:1": "empty layer name",
		"Web:1":       "not valid",
		"web_1:1":     "not valid",
		"-web:1":      "not valid",
		"web:1,web:2": "given twice",
	}
	for in, want := range bad {
		_, err := ParseLayers(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLayers(%q) error = %v; want one containing %q", in, err, want)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"dev", "t1", "a", "my-fleet-2", strings.Repeat("a", 40)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Dev", "-dev", "dev-", "de_v", "de v", "dev/x", "dév", strings.Repeat("a", 41)} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
	}
}

func TestSpecValidateAndPlan(t *testing.T) {
	s := Spec{Name: "x", Layers: []LayerCount{{"web", 2}, {"db", 1}}, Hosts: 2}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	if s.Init != InitSystemd || !filepath.IsAbs(s.Dir) || !strings.HasSuffix(s.Dir, filepath.Join(".opsrun", "testenv", "x")) {
		t.Errorf("defaults: init %q dir %q", s.Init, s.Dir)
	}
	var names []string
	for _, h := range s.plan() {
		names = append(names, h.Name+"="+strings.Join(h.Layers, "+"))
	}
	want := "web-1=web web-2=web db-1=db host-1= host-2="
	if got := strings.Join(names, " "); got != want {
		t.Errorf("plan = %s; want %s", got, want)
	}
	for _, h := range s.plan() {
		if h.Layers == nil {
			t.Errorf("host %s: nil layers; want empty so inventory and JSON say []", h.Name)
		}
	}

	bad := map[string]Spec{
		"no hosts":   {Name: "x"},
		"negative":   {Name: "x", Hosts: -1},
		"bad init":   {Name: "x", Hosts: 1, Init: "openrc"},
		"bad name":   {Name: "X", Hosts: 1},
		"host clash": {Name: "x", Hosts: 1, Layers: []LayerCount{{"host", 1}}},
		"zero count": {Name: "x", Layers: []LayerCount{{"web", 0}}},
		"too many":   {Name: "x", Hosts: maxHosts + 1},
		"dup layer":  {Name: "x", Layers: []LayerCount{{"web", 1}, {"web", 1}}},
		"bad layer":  {Name: "x", Layers: []LayerCount{{"we b", 1}}},
	}
	for what, s := range bad {
		if err := s.validate(); err == nil {
			t.Errorf("%s: validate accepted %+v", what, s)
		}
	}
}

func TestTestFleetName(t *testing.T) {
	a, b := testFleetName("TestFoo/sub_test#01"), testFleetName("TestFoo/sub_test#01")
	if a == b {
		t.Errorf("names not unique: %s", a)
	}
	for _, n := range []string{a, testFleetName(strings.Repeat("VeryLongTestName", 10)), testFleetName("///")} {
		if err := ValidateName(n); err != nil {
			t.Errorf("testFleetName made an invalid name: %v", err)
		}
	}
	if !strings.HasPrefix(a, "t-testfoo-sub-test-01-") {
		t.Errorf("name %q does not say which test made it", a)
	}
}
