package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rid is the release id of the n-th deploy: 20261126T0000nnZ and so on,
// in the sortable form the ids take.
func rid(n int) string {
	return time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second).Format("20060102T150405Z")
}

func record(t *testing.T, s *Store, app string, n int, keep int, hosts ...string) {
	t.Helper()
	rel := &Release{App: app, ID: rid(n), Source: "git https://example.com/site.git@main", RunID: fmt.Sprintf("run-%d", n), Deployed: time.Now().UTC()}
	if err := s.RecordRelease(context.Background(), rel, hosts, keep); err != nil {
		t.Fatal(err)
	}
}

// placements is app's placements as host → "current: kept,kept".
func placements(t *testing.T, s *Store, app string) map[string]string {
	t.Helper()
	ps, err := s.Placements(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range ps {
		if p.App != app {
			t.Errorf("placement of %s listed for %s", p.App, app)
		}
		out[p.Host] = p.Current + ": " + strings.Join(p.Kept, ",")
	}
	return out
}

func releaseIDs(t *testing.T, s *Store, app string) []string {
	t.Helper()
	rels, err := s.Releases(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rels {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestPruneKept(t *testing.T) {
	for _, c := range []struct {
		ids     []string
		current string
		keep    int
		want    []string
	}{
		{[]string{"r1", "r3", "r2"}, "r3", 2, []string{"r3", "r2"}},
		{[]string{"r5", "r1", "r4", "r2", "r3"}, "r1", 2, []string{"r5", "r4", "r1"}}, // rolled back to r1
		{[]string{"r2", "r1", "r2"}, "r2", 5, []string{"r2", "r1"}},
		{[]string{"r2", "r1"}, "r9", 1, []string{"r2"}}, // a current not among ids is not added
		{[]string{"r2", "r1"}, "r1", 0, []string{"r1"}},
		{[]string{"r2", "r1"}, "", 0, []string{}},
		{nil, "r1", 3, []string{}},
	} {
		in := slices.Clone(c.ids)
		got := PruneKept(c.ids, c.current, c.keep)
		if !slices.Equal(got, c.want) {
			t.Errorf("PruneKept(%v, %q, %d) = %v, want %v", c.ids, c.current, c.keep, got, c.want)
		}
		if !slices.Equal(in, c.ids) {
			t.Errorf("PruneKept changed its input: %v", c.ids)
		}
	}
}

func TestRecordReleaseAndRollback(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if p, err := s.Placements(ctx, "site"); p != nil || err != nil {
		t.Fatalf("placements of no store: %v %v", p, err)
	}
	if r, err := s.Releases(ctx, "site"); r != nil || err != nil {
		t.Fatalf("releases of no store: %v %v", r, err)
	}
	for n := 1; n <= 3; n++ {
		record(t, s, "site", n, 2, "web-1", "web-2")
	}
	// Another app, whose name starts with this one's, stays apart.
	record(t, s, "site2", 9, 2, "web-1")
	want := map[string]string{
		"web-1": rid(3) + ": " + rid(3) + "," + rid(2),
		"web-2": rid(3) + ": " + rid(3) + "," + rid(2),
	}
	if got := placements(t, s, "site"); !maps.Equal(got, want) {
		t.Fatalf("placements %v, want %v", got, want)
	}
	if got := releaseIDs(t, s, "site"); !slices.Equal(got, []string{rid(3), rid(2), rid(1)}) {
		t.Fatalf("releases %v", got)
	}
	last, err := s.LastRelease(ctx, "site")
	if err != nil || last.ID != rid(3) || last.App != "site" || last.RunID != "run-3" || last.Source != "git https://example.com/site.git@main" || last.Deployed.IsZero() {
		t.Fatalf("last %+v %v", last, err)
	}

	// Roll web-1 back to 2, then deploy 4 there with keep 2: 4 and 3
	// are the newest; 2 is no longer current, so it goes.
	if err := s.SetCurrent(ctx, "site", map[string]string{"web-1": rid(2)}); err != nil {
		t.Fatal(err)
	}
	if got := placements(t, s, "site")["web-1"]; got != rid(2)+": "+rid(3)+","+rid(2) {
		t.Fatalf("after rollback: %s", got)
	}
	record(t, s, "site", 4, 2, "web-1")
	if got := placements(t, s, "site")["web-1"]; got != rid(4)+": "+rid(4)+","+rid(3) {
		t.Fatalf("after deploy: %s", got)
	}
	// Re-deploying an older release keeps it although two newer ones
	// fill keep: the current one is never pruned.
	record(t, s, "site", 2, 2, "web-1")
	if got := placements(t, s, "site")["web-1"]; got != rid(2)+": "+rid(4)+","+rid(3)+","+rid(2) {
		t.Fatalf("after re-deploying an old one: %s", got)
	}
	// A host new to the app gets just the release.
	record(t, s, "site", 1, 2, "web-3")
	if got := placements(t, s, "site")["web-3"]; got != rid(1)+": "+rid(1) {
		t.Fatalf("new host: %s", got)
	}
	if got := placements(t, s, "site2"); len(got) != 1 || got["web-1"] != rid(9)+": "+rid(9) {
		t.Fatalf("the other app: %v", got)
	}
	if got := releaseIDs(t, s, "site2"); !slices.Equal(got, []string{rid(9)}) {
		t.Fatalf("the other app's releases: %v", got)
	}
}

func TestRecordReleaseRefuses(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for name, c := range map[string]struct {
		rel   *Release
		hosts []string
	}{
		"nil":      {nil, []string{"a"}},
		"no app":   {&Release{ID: "x"}, []string{"a"}},
		"no id":    {&Release{App: "site"}, []string{"a"}},
		"nul app":  {&Release{App: "si\x00te", ID: "x"}, []string{"a"}},
		"nul host": {&Release{App: "site", ID: "x"}, []string{"a", "b\x00"}},
		"no host":  {&Release{App: "site", ID: "x"}, []string{""}},
	} {
		if err := s.RecordRelease(ctx, c.rel, c.hosts, 3); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if r, _ := s.Releases(ctx, "site"); r != nil {
		t.Errorf("a refused record wrote: %v", r)
	}
}

func TestDeploysPrunedToKeptAndNewest(t *testing.T) {
	s := newStore(t)
	// web-2 got release 1 and nothing since: it keeps 1 alive.
	record(t, s, "site", 1, 2, "web-1", "web-2")
	for n := 2; n <= MaxReleases+5; n++ {
		record(t, s, "site", n, 2, "web-1")
	}
	got := releaseIDs(t, s, "site")
	var want []string
	for n := MaxReleases + 5; n > 5; n-- {
		want = append(want, rid(n))
	}
	want = append(want, rid(1))
	if !slices.Equal(got, want) {
		t.Fatalf("releases %v\nwant %v", got, want)
	}
	// Once web-2 leaves, release 1 goes at the next deploy.
	if err := s.ForgetApp(context.Background(), "site", []string{"web-2"}); err != nil {
		t.Fatal(err)
	}
	if got := releaseIDs(t, s, "site"); len(got) != MaxReleases || slices.Contains(got, rid(1)) {
		t.Fatalf("after web-2 left: %v", got)
	}
}

func TestSetCurrentRefusesUnknownAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	record(t, s, "site", 1, 3, "web-1", "web-2")
	record(t, s, "site", 2, 3, "web-1", "web-2")
	before := placements(t, s, "site")

	// web-1's change is valid, web-2's is not: neither is written.
	err := s.SetCurrent(ctx, "site", map[string]string{"web-1": rid(1), "web-2": rid(7)})
	var ue *UnknownReleaseError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnknownRelease) || ue.Host != "web-2" || ue.ID != rid(7) || ue.App != "site" {
		t.Fatalf("unknown id: %v", err)
	}
	for _, want := range []string{"web-2", rid(7), "site", rid(2) + ", " + rid(1)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if after := placements(t, s, "site"); !maps.Equal(after, before) {
		t.Fatalf("a refused SetCurrent wrote: %v, was %v", after, before)
	}
	// A host without the app is refused too.
	err = s.SetCurrent(ctx, "site", map[string]string{"web-9": rid(1)})
	if !errors.As(err, &ue) || ue.Host != "web-9" || ue.Kept != nil || !strings.Contains(err.Error(), "deploy the app to it first") {
		t.Fatalf("host without the app: %v", err)
	}
	if err := s.SetCurrent(ctx, "site", map[string]string{"web-1": rid(1), "web-2": rid(1)}); err != nil {
		t.Fatal(err)
	}
	for h, got := range placements(t, s, "site") {
		if got != rid(1)+": "+rid(2)+","+rid(1) {
			t.Errorf("%s: %s", h, got)
		}
	}
}

func TestForgetApp(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.ForgetApp(ctx, "site", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(s.Path())); !os.IsNotExist(err) {
		t.Fatalf("forgetting created the store: %v", err)
	}
	record(t, s, "site", 1, 3, "web-1", "web-2", "web-3")
	record(t, s, "other", 1, 3, "web-1")

	if err := s.ForgetApp(ctx, "site", []string{"web-1"}); err != nil {
		t.Fatal(err)
	}
	if got := placements(t, s, "site"); len(got) != 2 || got["web-1"] != "" {
		t.Fatalf("after forgetting web-1: %v", got)
	}
	if got := releaseIDs(t, s, "site"); len(got) != 1 {
		t.Fatalf("releases went with a placement left: %v", got)
	}
	// An empty list forgets nothing; nil forgets every host.
	if err := s.ForgetApp(ctx, "site", []string{}); err != nil {
		t.Fatal(err)
	}
	if got := placements(t, s, "site"); len(got) != 2 {
		t.Fatalf("an empty list forgot: %v", got)
	}
	if err := s.ForgetApp(ctx, "site", nil); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Placements(ctx, "site"); p != nil || err != nil {
		t.Fatalf("placements left: %v %v", p, err)
	}
	if r, err := s.LastRelease(ctx, "site"); r != nil || err != nil {
		t.Fatalf("releases left: %v %v", r, err)
	}
	// The other app is untouched.
	if got := placements(t, s, "other"); len(got) != 1 {
		t.Fatalf("other app: %v", got)
	}
	if got := releaseIDs(t, s, "other"); len(got) != 1 {
		t.Fatalf("other app's releases: %v", got)
	}
	// Forgetting the last host by name removes the releases too.
	if err := s.ForgetApp(ctx, "other", []string{"web-1"}); err != nil {
		t.Fatal(err)
	}
	if got := releaseIDs(t, s, "other"); got != nil {
		t.Fatalf("releases of a forgotten app: %v", got)
	}
}

func TestRemovingMemberRemovesItsPlacements(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.SaveMembers(ctx, []*Member{{Name: "web-1"}, {Name: "web-2"}}, nil); err != nil {
		t.Fatal(err)
	}
	record(t, s, "site", 1, 3, "web-1", "web-2")
	record(t, s, "worker", 1, 3, "web-1")
	if err := s.SaveMembers(ctx, nil, []string{"web-1"}); err != nil {
		t.Fatal(err)
	}
	if got := placements(t, s, "site"); len(got) != 1 || got["web-2"] == "" {
		t.Errorf("site: %v", got)
	}
	if p, _ := s.Placements(ctx, "worker"); p != nil {
		t.Errorf("worker: %v", p)
	}
	// An app left on no instance keeps its last release for the next
	// instance to join.
	if r, err := s.LastRelease(ctx, "worker"); err != nil || r == nil || r.ID != rid(1) {
		t.Errorf("worker's last release: %+v %v", r, err)
	}
}

func TestReleaseRecordsJSON(t *testing.T) {
	b, _ := json.Marshal(&Placement{App: "site", Host: "web-1", Current: "b", Kept: []string{"b", "a"}})
	if string(b) != `{"app":"site","host":"web-1","current":"b","kept":["b","a"]}` {
		t.Errorf("placement %s", b)
	}
	b, _ = json.Marshal(&Release{App: "site", ID: "i", Source: "s", RunID: "r", Deployed: time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)})
	if string(b) != `{"app":"site","id":"i","source":"s","run_id":"r","deployed":"2026-11-26T01:02:03Z"}` {
		t.Errorf("release %s", b)
	}
}

// writeReleases changes the membership and deploys, over and over: at
// step i the members are host-i and host-i+1 (mod 4), the other two are
// removed, and release i is deployed to the two members.
func writeReleases(t *testing.T, s *Store) {
	ctx := context.Background()
	i := 0
	if last, err := s.LastRelease(ctx, "site"); err != nil {
		t.Fatal(err)
	} else if last != nil {
		n, err := strconv.Atoi(strings.TrimPrefix(last.ID, "r"))
		if err != nil {
			t.Fatal(err)
		}
		i = n + 1
	}
	host := func(n int) string { return fmt.Sprintf("host-%d", n%4) }
	for ; ; i++ {
		in := []string{host(i), host(i + 1)}
		var upsert []*Member
		for _, name := range in {
			upsert = append(upsert, &Member{Name: name, Layers: []string{"web"}, Host: fullHost(name), Joined: time.Now().UTC()})
		}
		if err := s.SaveMembers(ctx, upsert, []string{host(i + 2), host(i + 3)}); err != nil {
			t.Fatal(err)
		}
		rel := &Release{App: "site", ID: fmt.Sprintf("r%08d", i), Source: strings.Repeat("git https://example.com/site.git@main ", 20), RunID: "w", Deployed: time.Now().UTC()}
		if err := s.RecordRelease(ctx, rel, in, 3); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReleasesSurviveKill SIGKILLs a process changing membership and
// deploying; every time, the placements are of members only (a member's
// removal and its placements' commit together) and each keeps what it
// should.
func TestReleasesSurviveKill(t *testing.T) {
	ctx := context.Background()
	written := func(s *Store) (int, error) {
		last, err := s.LastRelease(ctx, "site")
		if err != nil || last == nil {
			return -1, err
		}
		return strconv.Atoi(strings.TrimPrefix(last.ID, "r"))
	}
	killWriter(t, "releases", written, func(s *Store, round int) {
		members, err := s.Members(ctx)
		if err != nil {
			t.Fatalf("round %d: members: %v", round, err)
		}
		isMember := map[string]bool{}
		for _, m := range members {
			if m.Host == nil || m.Host.User != "deploy" || len(m.Host.Vars) != 6 {
				t.Fatalf("round %d: member %s torn: %+v", round, m.Name, m.Host)
			}
			isMember[m.Name] = true
		}
		if len(members) != 2 {
			t.Fatalf("round %d: %d members", round, len(members))
		}
		ps, err := s.Placements(ctx, "site")
		if err != nil {
			t.Fatalf("round %d: placements: %v", round, err)
		}
		rels := map[string]bool{}
		for _, id := range releaseIDs(t, s, "site") {
			rels[id] = true
		}
		for _, p := range ps {
			if !isMember[p.Host] {
				t.Fatalf("round %d: a placement on %s, not a member", round, p.Host)
			}
			if !slices.Contains(p.Kept, p.Current) || len(p.Kept) > 3 || !slices.IsSortedFunc(p.Kept, func(a, b string) int { return strings.Compare(b, a) }) {
				t.Fatalf("round %d: placement %+v", round, p)
			}
			for _, id := range p.Kept {
				if !rels[id] {
					t.Fatalf("round %d: %s keeps %s, which has no record", round, p.Host, id)
				}
			}
		}
	})
}
