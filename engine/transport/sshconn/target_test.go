package sshconn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

func testResolver(t *testing.T, config string, existing ...string) *resolver {
	t.Helper()
	r := &resolver{
		home:              "/home/op",
		localUser:         "op",
		keepAliveInterval: 15 * time.Second,
		exists: func(p string) bool {
			for _, e := range existing {
				if e == p {
					return true
				}
			}
			return false
		},
	}
	if config != "" {
		cfg, err := decodeSSHConfig(strings.NewReader(config))
		if err != nil {
			t.Fatal(err)
		}
		r.cfg = cfg
	}
	return r
}

// defaults is what a host resolves to with nothing configured anywhere.
func defaults(name string) Target {
	return Target{
		Name: name, HostName: name, Port: 22, User: "op",
		IdentityFiles:     []string{"/home/op/.ssh/id_ed25519"},
		KnownHosts:        []string{"/home/op/.ssh/known_hosts"},
		HostKeyChecking:   "strict",
		ConnectTimeout:    10 * time.Second,
		KeepAliveInterval: 15 * time.Second,
		KeepAliveCountMax: 3,
	}
}

func TestResolve(t *testing.T) {
	const config = `
Host web1
  HostName 10.0.0.5
  User deploy
  Port 2222
  IdentityFile ~/.ssh/web_key
  IdentityFile /keys/%r@%h:%p
  ConnectTimeout 3
  ServerAliveInterval 7
  ServerAliveCountMax 5
  StrictHostKeyChecking no
  UserKnownHostsFile ~/.ssh/kh_one /etc/kh_two

Host db*
  ProxyJump bastion
  StrictHostKeyChecking accept-new

Host bastion
  HostName bastion.example.com
  User jump
  IdentityFile ~/.ssh/bastion_key

Host viaplain
  ProxyJump admin@hop1:2200,hop2

Host loop
  ProxyJump loop

Host quiet
  ServerAliveInterval 0
`
	tests := []struct {
		name string
		host inventory.Host
		want func(t *Target)
	}{
		{
			name: "nothing configured gives OpenSSH defaults",
			host: inventory.Host{Name: "plain"},
			want: func(*Target) {},
		},
		{
			name: "ssh_config fills every unset field",
			host: inventory.Host{Name: "web1"},
			want: func(t *Target) {
				t.HostName, t.User, t.Port = "10.0.0.5", "deploy", 2222
				t.IdentityFiles = []string{"/home/op/.ssh/web_key", "/keys/deploy@10.0.0.5:2222"}
				t.KnownHosts = []string{"/home/op/.ssh/kh_one", "/etc/kh_two"}
				t.HostKeyChecking = "accept-new" // "no" never means insecure
				t.ConnectTimeout, t.KeepAliveInterval, t.KeepAliveCountMax = 3*time.Second, 7*time.Second, 5
			},
		},
		{
			name: "ServerAliveInterval 0 turns keepalives off",
			host: inventory.Host{Name: "quiet"},
			want: func(t *Target) { t.KeepAliveInterval = 0 },
		},
		{
			name: "inventory fields win over ssh_config",
			host: inventory.Host{Name: "web1", Address: "192.0.2.1", Port: 22, User: "ops", SSH: inventory.SSH{
				IdentityFiles: []string{"/inv/key"}, KnownHosts: []string{"/inv/kh"}, HostKeyChecking: "strict",
				ConnectTimeout: time.Second, Password: "pw",
			}},
			want: func(t *Target) {
				t.HostName, t.User, t.Port = "192.0.2.1", "ops", 22
				t.IdentityFiles, t.KnownHosts, t.HostKeyChecking = []string{"/inv/key"}, []string{"/inv/kh"}, "strict"
				t.ConnectTimeout, t.KeepAliveInterval, t.KeepAliveCountMax = time.Second, 7*time.Second, 5
				t.Password = "pw"
			},
		},
		{
			name: "ProxyJump alias from a wildcard block; the hop keeps its own key and takes the host's known_hosts",
			host: inventory.Host{Name: "db1", Address: "10.1.0.9"},
			want: func(t *Target) {
				t.HostName = "10.1.0.9"
				t.HostKeyChecking = "accept-new"
				hop := defaults("bastion")
				hop.HostName, hop.User = "bastion.example.com", "jump"
				hop.IdentityFiles = []string{"/home/op/.ssh/bastion_key"}
				hop.HostKeyChecking = "accept-new" // inherited: the hop sets none itself
				t.Via = &hop
			},
		},
		{
			name: "inventory ProxyJump chain with user and port; hops inherit the host's identity files",
			host: inventory.Host{Name: "app", SSH: inventory.SSH{ProxyJump: "admin@hop1:2200,hop2", IdentityFiles: []string{"/inv/key"}}},
			want: func(t *Target) {
				t.IdentityFiles = []string{"/inv/key"}
				hop1 := defaults("admin@hop1:2200")
				hop1.HostName, hop1.User, hop1.Port = "hop1", "admin", 2200
				hop1.IdentityFiles = []string{"/inv/key"}
				hop2 := defaults("hop2")
				hop2.IdentityFiles = []string{"/inv/key"}
				hop2.Via = &hop1
				t.Via = &hop2
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testResolver(t, config, "/home/op/.ssh/id_ed25519")
			got, err := r.resolve(&tc.host)
			if err != nil {
				t.Fatal(err)
			}
			want := defaults(tc.host.Name)
			tc.want(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("resolve(%s)\n got %+v\nwant %+v", tc.host.Name, dump(got), dump(&want))
			}
		})
	}
}

func dump(t *Target) string {
	var hops []string
	for ; t != nil; t = t.Via {
		c := *t
		c.Via = nil
		hops = append(hops, fmt.Sprintf("%+v", c))
	}
	return strings.Join(hops, "\n    via ")
}

func TestResolveDefaultsFindExistingKeysAndGlobalKnownHosts(t *testing.T) {
	r := testResolver(t, "", "/home/op/.ssh/id_ecdsa", "/home/op/.ssh/id_rsa", "/etc/ssh/ssh_known_hosts")
	got, err := r.resolve(&inventory.Host{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/home/op/.ssh/id_ecdsa", "/home/op/.ssh/id_rsa"}; !reflect.DeepEqual(got.IdentityFiles, want) {
		t.Errorf("identity files %v, want %v", got.IdentityFiles, want)
	}
	if want := []string{"/home/op/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts"}; !reflect.DeepEqual(got.KnownHosts, want) {
		t.Errorf("known hosts %v, want %v", got.KnownHosts, want)
	}
}

func TestResolveErrors(t *testing.T) {
	const config = `
Host badport
  Port http
Host badshk
  StrictHostKeyChecking maybe
Host loop
  ProxyJump loop
Host badtimeout
  ConnectTimeout 5s
`
	tests := []struct {
		host inventory.Host
		want string
	}{
		{inventory.Host{Name: "badport"}, "bad port"},
		{inventory.Host{Name: "badshk"}, "StrictHostKeyChecking"},
		{inventory.Host{Name: "loop"}, "ProxyJump nested"},
		{inventory.Host{Name: "badtimeout"}, "ConnectTimeout"},
		{inventory.Host{Name: "x", SSH: inventory.SSH{HostKeyChecking: "off"}}, "host_key_checking"},
		{inventory.Host{Name: "x", SSH: inventory.SSH{ProxyJump: "a,,b"}}, "empty hop"},
		{inventory.Host{Name: "x", SSH: inventory.SSH{ProxyJump: "[::1"}}, "unclosed"},
		{inventory.Host{Name: ""}, "without a name"},
	}
	for _, tc := range tests {
		r := testResolver(t, config)
		_, err := r.resolve(&tc.host)
		if !errors.Is(err, transport.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resolve(%+v) = %v, want ErrConfig containing %q", tc.host.Name, err, tc.want)
		}
	}
}

func TestParseHop(t *testing.T) {
	tests := []struct {
		in         string
		user, host string
		port       int
	}{
		{"bastion", "", "bastion", 0},
		{"u@bastion", "u", "bastion", 0},
		{"u@b:2222", "u", "b", 2222},
		{"[::1]:2200", "", "::1", 2200},
		{"u@[fe80::1]", "u", "fe80::1", 0},
		{"fe80::1", "", "fe80::1", 0},
		{"a@b@c:1", "a@b", "c", 1},
	}
	for _, tc := range tests {
		user, host, port, err := parseHop(tc.in)
		if err != nil || user != tc.user || host != tc.host || port != tc.port {
			t.Errorf("parseHop(%q) = %q, %q, %d, %v; want %q, %q, %d", tc.in, user, host, port, err, tc.user, tc.host, tc.port)
		}
	}
}

func TestLoadSSHConfig(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadSSHConfig(filepath.Join(dir, "missing"), dir); !errors.Is(err, transport.ErrConfig) {
		t.Errorf("explicit missing ssh_config: %v, want ErrConfig", err)
	}
	if cfg, err := loadSSHConfig("", dir); err != nil || cfg != nil {
		t.Errorf("default ssh_config absent: %v, %v; want none, no error", cfg, err)
	}
	if cfg, err := loadSSHConfig("none", dir); err != nil || cfg != nil {
		t.Errorf(`"none": %v, %v`, cfg, err)
	}
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "Match exec true\n  User x\n")
	if _, err := loadSSHConfig(bad, dir); !errors.Is(err, transport.ErrConfig) {
		t.Errorf("unparseable ssh_config: %v, want ErrConfig", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNewDialerBadSSHConfig(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "config")
	writeFile(t, bad, "Host x\n  Port\n\tMatch exec true\n")
	if _, err := NewDialer(Options{SSHConfigFile: bad}); !errors.Is(err, transport.ErrConfig) {
		t.Fatalf("got %v, want ErrConfig", err)
	}
	if _, err := NewDialer(Options{SSHConfigFile: filepath.Join(t.TempDir(), "nope")}); !errors.Is(err, transport.ErrConfig) {
		t.Fatalf("missing explicit ssh_config: %v, want ErrConfig", err)
	}
	if _, err := NewDialer(Options{MaxSessions: -1}); !errors.Is(err, transport.ErrConfig) {
		t.Fatalf("negative MaxSessions: %v, want ErrConfig", err)
	}
}

// FuzzResolve feeds arbitrary ssh_config text and host settings through
// resolution: it may refuse them, but must not panic or loop.
func FuzzResolve(f *testing.F) {
	f.Add("Host *\n  User u\n  Port 2222\n  ProxyJump a@b:1,c\n", "web1", "")
	f.Add("Host a\n  ProxyJump a\n", "a", "")
	f.Add("Host w*\n  IdentityFile %d/%h/%p/%r/%u/%n/%%/%x\n  UserKnownHostsFile ~/k %h\n", "web", "[::1]:22,x@y")
	f.Add("Match host x\n  HostName %h.example\n", "x", "")
	f.Fuzz(func(t *testing.T, config, name, jump string) {
		r := &resolver{home: "/h", localUser: "u", exists: func(string) bool { return true }}
		cfg, err := decodeSSHConfig(strings.NewReader(config))
		if err != nil {
			return
		}
		r.cfg = cfg
		tgt, err := r.resolve(&inventory.Host{Name: name, SSH: inventory.SSH{ProxyJump: jump}})
		if err != nil {
			if !errors.Is(err, transport.ErrConfig) {
				t.Fatalf("error without ErrConfig: %v", err)
			}
			return
		}
		for depth := 0; tgt != nil; tgt = tgt.Via {
			if depth++; depth > 100 {
				t.Fatal("endless jump chain")
			}
			if tgt.Port < 1 || tgt.Port > 65535 || tgt.User == "" {
				t.Fatalf("bad target %+v", tgt)
			}
		}
	})
}
