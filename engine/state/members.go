package state

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	bolt "go.etcd.io/bbolt"

	"github.com/opsrun/opsrun/inventory"
)

var configuredKey = []byte("configured")

// Member is an instance the stack knows: `opsrun up` saw it in the inventory.
type Member struct {
	Name   string   `json:"name"`
	Layers []string `json:"layers"`
	// Host is how to reach it, kept so that an instance that left the
	// inventory can still be reached for its shutdown recipes.
	Host   *inventory.Host `json:"host"`
	Joined time.Time       `json:"joined"`
	// SetupAt is when its setup last completed; zero while setup has not.
	SetupAt time.Time `json:"setup_at,omitzero"`
}

// MarshalJSON writes Host in its stored form (see hostRecord): an
// inventory.Host has cty values and a source range, which encoding/json
// cannot write as they are.
func (m Member) MarshalJSON() ([]byte, error) {
	type plain Member
	return json.Marshal(struct {
		plain
		Host *hostRecord `json:"host"`
	}{plain(m), newHostRecord(m.Host)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (m *Member) UnmarshalJSON(b []byte) error {
	type plain Member
	var rec struct {
		plain
		Host *hostRecord `json:"host"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return err
	}
	h, err := rec.Host.host()
	if err != nil {
		return fmt.Errorf("member %s: %w", rec.Name, err)
	}
	*m = Member(rec.plain)
	m.Host = h
	return nil
}

// hostRecord is an inventory.Host as the store keeps it. DeclRange is
// dropped: it points into an inventory file that may have changed since,
// and a member that left the inventory has no declaration to point at.
type hostRecord struct {
	Name    string   `json:"name"`
	Address string   `json:"address,omitempty"`
	Port    int      `json:"port,omitempty"`
	User    string   `json:"user,omitempty"`
	Layers  []string `json:"layers,omitempty"`
	// Vars keep each value with the type JSON implies when read back (a
	// list comes back a tuple, a map an object): what a recipe reads from
	// them is the same.
	Vars map[string]ctyjson.SimpleJSONValue `json:"vars,omitempty"`
	SSH  sshRecord                          `json:"ssh"`
}

// sshRecord is an inventory.SSH as the store keeps it: how an instance
// that left the inventory is reached for its shutdown recipes. Passwords
// are not kept: the state file is not where secrets live. An instance that
// left and can only be reached with a password is forgotten without its
// shutdown recipes, as an unreachable one is.
type sshRecord struct {
	IdentityFiles   []string `json:"identity_files,omitempty"`
	KnownHosts      []string `json:"known_hosts,omitempty"`
	HostKeyChecking string   `json:"host_key_checking,omitempty"`
	ProxyJump       string   `json:"proxy_jump,omitempty"`
	// ConnectTimeout is a Go duration ("10s"), readable in a dump of
	// the file where nanoseconds would not be.
	ConnectTimeout string `json:"connect_timeout,omitempty"`
}

func newHostRecord(h *inventory.Host) *hostRecord {
	if h == nil {
		return nil
	}
	rec := &hostRecord{
		Name: h.Name, Address: h.Address, Port: h.Port, User: h.User, Layers: h.Layers,
		SSH: sshRecord{
			IdentityFiles:   h.SSH.IdentityFiles,
			KnownHosts:      h.SSH.KnownHosts,
			HostKeyChecking: h.SSH.HostKeyChecking,
			ProxyJump:       h.SSH.ProxyJump,
		},
	}
	if h.SSH.ConnectTimeout != 0 {
		rec.SSH.ConnectTimeout = h.SSH.ConnectTimeout.String()
	}
	for k, v := range h.Vars {
		// A value marked sensitive (anywhere inside it) is not stored: the
		// state file is not where secrets are kept, and it would outlive
		// the inventory they came from. A recipe run on a member that has
		// left the inventory does without it. A value not wholly known
		// has nothing to store (inventory values are always known).
		if v.ContainsMarked() || !v.IsWhollyKnown() {
			continue
		}
		if rec.Vars == nil {
			rec.Vars = make(map[string]ctyjson.SimpleJSONValue, len(h.Vars))
		}
		rec.Vars[k] = ctyjson.SimpleJSONValue{Value: v}
	}
	return rec
}

// host is the inventory.Host rec stores; nil for nil.
func (rec *hostRecord) host() (*inventory.Host, error) {
	if rec == nil {
		return nil, nil
	}
	h := &inventory.Host{
		Name: rec.Name, Address: rec.Address, Port: rec.Port, User: rec.User, Layers: rec.Layers,
		SSH: inventory.SSH{
			IdentityFiles:   rec.SSH.IdentityFiles,
			KnownHosts:      rec.SSH.KnownHosts,
			HostKeyChecking: rec.SSH.HostKeyChecking,
			ProxyJump:       rec.SSH.ProxyJump,
		},
	}
	if rec.SSH.ConnectTimeout != "" {
		d, err := time.ParseDuration(rec.SSH.ConnectTimeout)
		if err != nil {
			return nil, fmt.Errorf("connect_timeout: %w", err)
		}
		h.SSH.ConnectTimeout = d
	}
	if rec.Vars != nil {
		h.Vars = make(map[string]cty.Value, len(rec.Vars))
		for k, v := range rec.Vars {
			h.Vars[k] = v.Value
		}
	}
	return h, nil
}

// Members are the stack's members sorted by name; nil for a store not
// created yet.
func (s *Store) Members(ctx context.Context) ([]*Member, error) {
	raw, err := s.values(ctx, bucketMembers, nil)
	if err != nil {
		return nil, err
	}
	// bbolt keeps keys in byte order, which is the names' sort order.
	var out []*Member
	for _, v := range raw {
		m := &Member{}
		if err := json.Unmarshal(v, m); err != nil {
			return nil, &CorruptError{Path: s.path, Err: fmt.Errorf("a member record: %w", err)}
		}
		out = append(out, m)
	}
	return out, nil
}

// SaveMembers upserts and removes members in one transaction. Removing a
// member also removes its placements of every app; the apps' releases
// stay, so an instance that joins later can be given the last one.
func (s *Store) SaveMembers(ctx context.Context, upsert []*Member, remove []string) error {
	put := make(map[string][]byte, len(upsert))
	for _, m := range upsert {
		if m == nil {
			return errors.New("state store: a nil member to save")
		}
		if err := checkKeyPart("member name", m.Name); err != nil {
			return err
		}
		if slices.Contains(remove, m.Name) {
			return fmt.Errorf("state store: member %s is both saved and removed", m.Name)
		}
		v, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("state store: %w", err)
		}
		put[m.Name] = v
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMembers)
		for name, v := range put {
			if err := b.Put([]byte(name), v); err != nil {
				return err
			}
		}
		for _, name := range remove {
			if err := b.Delete([]byte(name)); err != nil {
				return err
			}
			if err := deletePlacementsOn(tx, name); err != nil {
				return s.corrupt(err)
			}
		}
		return nil
	})
}

// Configured is the membership digest configure last completed for on
// every instance ("" if never).
func (s *Store) Configured(ctx context.Context) (string, error) {
	var digest string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if b := bucket(tx, bucketMeta); b != nil {
			digest = string(b.Get(configuredKey))
		}
		return nil
	})
	return digest, err
}

// SetConfigured records digest as the membership configure last completed
// for; "" forgets it.
func (s *Store) SetConfigured(ctx context.Context, digest string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if digest == "" {
			return b.Delete(configuredKey)
		}
		return b.Put(configuredKey, []byte(digest))
	})
}

// Digest is a stable digest of a membership: the sorted names with their
// sorted layers (sha256 hex). Order of hosts and of layers does not
// matter, nor does a layer given twice.
func Digest(members map[string][]string) string {
	type entry struct {
		Name   string   `json:"n"`
		Layers []string `json:"l"`
	}
	entries := make([]entry, 0, len(members))
	for _, name := range slices.Sorted(maps.Keys(members)) {
		layers := append(make([]string, 0, len(members[name])), members[name]...)
		slices.Sort(layers)
		entries = append(entries, entry{name, slices.Compact(layers)})
	}
	// JSON quotes every string, so no name or layer can run into the
	// next one and two memberships never encode alike.
	b, _ := json.Marshal(entries) // strings and slices only: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// values copies out the values of name's keys that start with prefix, in
// key order, so that they are decoded after the file is closed. A store
// or bucket not created yet has none.
func (s *Store) values(ctx context.Context, name, prefix []byte) ([][]byte, error) {
	var raw [][]byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, name)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			raw = append(raw, bytes.Clone(v))
		}
		return nil
	})
	return raw, err
}

// checkKeyPart refuses a name that would break a composite key.
func checkKeyPart(what, v string) error {
	if v == "" {
		return fmt.Errorf("state store: empty %s", what)
	}
	if strings.ContainsRune(v, 0) {
		return fmt.Errorf("state store: %s %q contains a NUL byte", what, v)
	}
	return nil
}
