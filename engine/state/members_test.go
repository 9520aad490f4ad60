package state

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	bolt "go.etcd.io/bbolt"

	"github.com/opsrun/opsrun/inventory"
)

// fullHost is a host with every field set, vars of every JSON kind and
// two sensitive values.
func fullHost(name string) *inventory.Host {
	return &inventory.Host{
		Name:    name,
		Address: "10.0.0.7",
		Port:    2222,
		User:    "deploy",
		Layers:  []string{"web", "app"},
		Vars: map[string]cty.Value{
			"region":  cty.StringVal("eu-west-1"),
			"weight":  cty.NumberFloatVal(2.5),
			"primary": cty.True,
			"zones":   cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
			"limits":  cty.ObjectVal(map[string]cty.Value{"cpu": cty.NumberIntVal(2), "mem": cty.StringVal("1G")}),
			"nothing": cty.NullVal(cty.DynamicPseudoType),
			"token":   cty.StringVal("s3cr3t-token").Mark("sensitive"),
			"db":      cty.ObjectVal(map[string]cty.Value{"user": cty.StringVal("app"), "pass": cty.StringVal("hunter2").Mark("sensitive")}),
		},
		SSH: inventory.SSH{
			IdentityFiles:   []string{"/keys/a", "/keys/b"},
			KnownHosts:      []string{"/kh/one"},
			HostKeyChecking: "accept-new",
			ProxyJump:       "ops@bastion:2200,inner",
			Password:        "login-pw",
			BecomePassword:  "sudo-pw",
			ConnectTimeout:  12*time.Second + 345*time.Millisecond,
		},
		DeclRange: hcl.Range{Filename: "inventory.hcl", Start: hcl.Pos{Line: 3, Column: 1}},
	}
}

func TestMemberRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	joined := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	in := &Member{Name: "web-1", Layers: []string{"web", "app"}, Host: fullHost("web-1"), Joined: joined, SetupAt: joined.Add(time.Minute)}
	if err := s.SaveMembers(ctx, []*Member{in, {Name: "bare", Joined: joined}}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Members(ctx)
	if err != nil || len(got) != 2 {
		t.Fatalf("members: %v %v", got, err)
	}
	bare, m := got[0], got[1]
	if bare.Name != "bare" || bare.Host != nil || !bare.SetupAt.IsZero() || !bare.Joined.Equal(joined) {
		t.Errorf("bare member: %+v", bare)
	}
	if m.Name != "web-1" || !slices.Equal(m.Layers, in.Layers) || !m.Joined.Equal(joined) || !m.SetupAt.Equal(in.SetupAt) {
		t.Errorf("member: %+v", m)
	}
	h, want := m.Host, in.Host
	if h == nil {
		t.Fatal("host lost")
	}
	if h.Name != want.Name || h.Address != want.Address || h.Port != want.Port || h.User != want.User || !slices.Equal(h.Layers, want.Layers) {
		t.Errorf("host: %+v", h)
	}
	if !slices.Equal(h.SSH.IdentityFiles, want.SSH.IdentityFiles) || !slices.Equal(h.SSH.KnownHosts, want.SSH.KnownHosts) {
		t.Errorf("ssh files: %+v", h.SSH)
	}
	if h.SSH.HostKeyChecking != want.SSH.HostKeyChecking || h.SSH.ProxyJump != want.SSH.ProxyJump ||
		h.SSH.Password != "" || h.SSH.BecomePassword != "" || h.SSH.ConnectTimeout != want.SSH.ConnectTimeout {
		t.Errorf("ssh: %+v", h.SSH)
	}
	if h.DeclRange != (hcl.Range{}) {
		t.Errorf("DeclRange kept: %v", h.DeclRange)
	}
	// Values come back with the types JSON implies: a list as a tuple.
	wantVars := map[string]cty.Value{
		"region":  cty.StringVal("eu-west-1"),
		"weight":  cty.NumberFloatVal(2.5),
		"primary": cty.True,
		"zones":   cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
		"limits":  cty.ObjectVal(map[string]cty.Value{"cpu": cty.NumberIntVal(2), "mem": cty.StringVal("1G")}),
		"nothing": cty.NullVal(cty.DynamicPseudoType),
	}
	if len(h.Vars) != len(wantVars) {
		t.Errorf("vars %v, want the %d unmarked ones", h.Vars, len(wantVars))
	}
	for k, v := range wantVars {
		if got, ok := h.Vars[k]; !ok || !got.RawEquals(v) {
			t.Errorf("var %s = %#v, want %#v", k, got, v)
		}
	}
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	// Neither sensitive vars nor passwords are written to the file.
	for _, never := range []string{"s3cr3t-token", "hunter2", "login-pw", "sudo-pw"} {
		if strings.Contains(string(raw), never) {
			t.Errorf("the store holds %q", never)
		}
	}
	// The record's field names are the documented ones.
	var obj map[string]any
	b, _ := json.Marshal(in)
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	host, _ := obj["host"].(map[string]any)
	ssh, _ := host["ssh"].(map[string]any)
	if obj["name"] != "web-1" || obj["setup_at"] != "2026-11-26T01:03:03Z" || host["address"] != "10.0.0.7" || ssh["connect_timeout"] != "12.345s" {
		t.Errorf("json %s", b)
	}
	if b, _ := json.Marshal(&Member{Name: "x"}); strings.Contains(string(b), "setup_at") {
		t.Errorf("zero setup_at written: %s", b)
	}
}

func TestMembersOfNoStore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if m, err := s.Members(ctx); m != nil || err != nil {
		t.Fatalf("members: %v %v", m, err)
	}
	if d, err := s.Configured(ctx); d != "" || err != nil {
		t.Fatalf("configured: %q %v", d, err)
	}
	if _, err := os.Stat(filepath.Dir(s.Path())); !os.IsNotExist(err) {
		t.Errorf("reading created the store: %v", err)
	}
}

func TestSaveMembersUpsertAndRemove(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mk := func(name string, layers ...string) *Member { return &Member{Name: name, Layers: layers} }
	if err := s.SaveMembers(ctx, []*Member{mk("c", "db"), mk("a", "web"), mk("b", "web")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveMembers(ctx, []*Member{mk("b", "web", "cache")}, []string{"a", "never-there"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "b" || !slices.Equal(got[0].Layers, []string{"web", "cache"}) || got[1].Name != "c" {
		t.Fatalf("members %+v", got)
	}
	// Refused before anything is written.
	for name, upsert := range map[string][]*Member{
		"saved and removed": {mk("d"), mk("c")},
		"nil":               {mk("d"), nil},
		"no name":           {mk("d"), mk("")},
		"nul":               {mk("d"), mk("x\x00y")},
	} {
		if err := s.SaveMembers(ctx, upsert, []string{"c"}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, _ := s.Members(ctx); len(got) != 2 || got[1].Name != "c" {
		t.Errorf("a refused save wrote: %+v", got)
	}
}

func TestConfigured(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	d := Digest(map[string][]string{"web-1": {"web"}})
	if err := s.SetConfigured(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Configured(ctx); got != d || err != nil {
		t.Fatalf("configured %q %v", got, err)
	}
	if err := s.SetConfigured(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Configured(ctx); got != "" || err != nil {
		t.Fatalf("after forgetting: %q %v", got, err)
	}
}

func TestDigest(t *testing.T) {
	a := Digest(map[string][]string{"web-1": {"web", "app"}, "db-1": {"db"}, "web-2": {"web"}})
	// Built in another order, layers in another order and one given twice.
	m := map[string][]string{}
	m["web-2"] = []string{"web"}
	m["db-1"] = []string{"db", "db"}
	m["web-1"] = []string{"app", "web"}
	if b := Digest(m); a != b {
		t.Errorf("order matters: %s != %s", a, b)
	}
	// A stored digest is compared with one computed by a later opsrun:
	// the encoding must not drift.
	// It is sha256 of [{"n":"db-1","l":["db"]},{"n":"web-1","l":["app","web"]},{"n":"web-2","l":["web"]}].
	const golden = "5dda402d356e13d16c5c90fee70665295ceb11f5762844909fa3c8924687b8c9"
	if a != golden {
		t.Errorf("digest %s, was %s", a, golden)
	}
	differ := []map[string][]string{
		{"web-1": {"web", "app"}, "db-1": {"db"}},                   // a host fewer
		{"web-1": {"web"}, "db-1": {"db"}, "web-2": {"web"}},        // a layer fewer
		{"web-1": {"web", "app"}, "db-1": {"db"}, "web-3": {"web"}}, // another name
		{"a": {"bc"}}, {"ab": {"c"}}, {"a": {"b", "c"}}, {"a": {"b,c"}}, // boundaries
		{}, {"a": nil},
	}
	seen := map[string]int{a: -1}
	for i, mm := range differ {
		d := Digest(mm)
		if j, ok := seen[d]; ok {
			t.Errorf("memberships %d and %d digest alike", i, j)
		}
		seen[d] = i
	}
	if Digest(map[string][]string{"a": nil}) != Digest(map[string][]string{"a": {}}) {
		t.Error("nil and empty layers differ")
	}
}

// TestOldStoreGetsNewBuckets opens a store written by the code before
// members and releases: it reads as empty, takes writes, and keeps its
// runs and schema.
func TestOldStoreGetsNewBuckets(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := os.MkdirAll(filepath.Dir(s.Path()), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(s.Path(), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "lock", "runs"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("1")); err != nil {
			return err
		}
		return putRun(tx, &RunRecord{ID: "old-run", Event: "setup", Outcome: OutcomeOK})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	if m, err := s.Members(ctx); m != nil || err != nil {
		t.Errorf("members: %v %v", m, err)
	}
	if p, err := s.Placements(ctx, "site"); p != nil || err != nil {
		t.Errorf("placements: %v %v", p, err)
	}
	if r, err := s.LastRelease(ctx, "site"); r != nil || err != nil {
		t.Errorf("last release: %v %v", r, err)
	}
	if err := s.SaveMembers(ctx, []*Member{{Name: "web-1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRelease(ctx, &Release{App: "site", ID: "20261126T010203Z"}, []string{"web-1"}, 3); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Members(ctx); len(m) != 1 {
		t.Errorf("members after save: %v", m)
	}
	if p, _ := s.Placements(ctx, "site"); len(p) != 1 || p[0].Current != "20261126T010203Z" {
		t.Errorf("placements after record: %v", p)
	}
	if rec, err := s.Show(ctx, "old-run"); err != nil || rec.Outcome != OutcomeOK {
		t.Errorf("old run: %+v %v", rec, err)
	}
	db, err = bolt.Open(s.Path(), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get([]byte("schema"))); v != "1" {
			t.Errorf("schema %q", v)
		}
		return nil
	})
}
