package sshconn

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
)

// Host key checking modes. OpenSSH's "no" maps to accept-new: opsrun has no
// insecure mode, so a changed key is refused whatever the setting.
const (
	checkingStrict    = "strict"
	checkingAcceptNew = "accept-new"
)

// Defaults that OpenSSH would apply when neither the inventory nor ssh_config
// says otherwise.
const (
	defaultPort              = 22
	defaultConnectTimeout    = 10 * time.Second
	defaultKeepAliveCountMax = 3
	maxJumpDepth             = 8 // a ProxyJump loop in ssh_config must end with an error, not a stack overflow
)

// Target is everything needed to reach one SSH endpoint, resolved from the
// inventory, ssh_config and defaults. It is the seam between settings (pure,
// table-tested) and connecting (network).
type Target struct {
	Name     string // inventory name, or the hop spec for a jump host; for messages
	HostName string // address to dial
	Port     int
	User     string
	// IdentityFiles are private key paths. Explicit ones (inventory,
	// ssh_config) must exist; default ones were filtered by existence.
	IdentityFiles []string
	// KnownHosts files; the first is where accept-new records keys.
	KnownHosts      []string
	HostKeyChecking string // checkingStrict or checkingAcceptNew
	ConnectTimeout  time.Duration
	// KeepAliveInterval is how often to probe the server; 0 disables.
	KeepAliveInterval time.Duration
	KeepAliveCountMax int
	Password          string // password auth, only when set; never logged
	// Via is the jump host this target is reached through (the last hop of
	// ProxyJump), itself possibly behind another; nil means direct.
	Via *Target
}

// Addr is host:port for dialing and for known_hosts lookups.
func (t *Target) Addr() string { return net.JoinHostPort(t.HostName, strconv.Itoa(t.Port)) }

// Key identifies a connection to this target, including the path to it, so
// that jump connections can be shared between hosts that use the same hop.
func (t *Target) Key() string {
	k := t.User + "@" + t.Addr()
	if t.Via != nil {
		k = t.Via.Key() + ">" + k
	}
	return k
}

// sshConfig is the part of an ssh_config file resolution reads; *ssh_config.Config
// satisfies it, and tests may supply their own.
type sshConfig interface {
	Get(alias, key string) (string, error)
	GetAll(alias, key string) ([]string, error)
}

// resolver turns inventory hosts into Targets. Its environment (home
// directory, local user, file existence) is explicit so tests need not touch
// the real one.
type resolver struct {
	cfg               sshConfig // nil: no ssh_config
	home              string
	localUser         string
	exists            func(path string) bool
	keepAliveInterval time.Duration
}

// resolve builds the Target for h: inventory fields win, then ssh_config
// looked up by h.Name, then defaults.
func (r *resolver) resolve(h *inventory.Host) (*Target, error) {
	if h == nil || h.Name == "" {
		return nil, fmt.Errorf("%w: host without a name", transport.ErrConfig)
	}
	t, err := r.resolveAlias(h.Name, h.Address, h.Port, h.User)
	if err != nil {
		return nil, err
	}
	t.Name = h.Name
	if len(h.SSH.IdentityFiles) > 0 {
		t.IdentityFiles = r.expandAll(h.SSH.IdentityFiles, t)
	}
	if len(h.SSH.KnownHosts) > 0 {
		t.KnownHosts = r.expandAll(h.SSH.KnownHosts, t)
	}
	if h.SSH.HostKeyChecking != "" {
		switch h.SSH.HostKeyChecking {
		case checkingStrict, checkingAcceptNew:
			t.HostKeyChecking = h.SSH.HostKeyChecking
		default:
			return nil, fmt.Errorf("%w: host_key_checking %q: want %q or %q", transport.ErrConfig,
				h.SSH.HostKeyChecking, checkingStrict, checkingAcceptNew)
		}
	}
	if h.SSH.ConnectTimeout > 0 {
		t.ConnectTimeout = h.SSH.ConnectTimeout
	}
	t.Password = h.SSH.Password

	jump := h.SSH.ProxyJump
	if jump == "" {
		if jump, err = r.get(h.Name, "ProxyJump"); err != nil {
			return nil, err
		}
	}
	if t.Via, err = r.resolveJumps(jump, t, 0); err != nil {
		return nil, err
	}
	return t, nil
}

// resolveAlias applies ssh_config and defaults for one alias; address, port
// and user override ssh_config when non-zero.
func (r *resolver) resolveAlias(alias, address string, port int, user string) (*Target, error) {
	t := &Target{Name: alias, HostName: address, Port: port, User: user}
	var err error
	if t.HostName == "" {
		if t.HostName, err = r.get(alias, "HostName"); err != nil {
			return nil, err
		}
		t.HostName = strings.ReplaceAll(t.HostName, "%h", alias)
	}
	if t.HostName == "" {
		t.HostName = alias
	}
	if t.Port == 0 {
		p, err := r.get(alias, "Port")
		if err != nil {
			return nil, err
		}
		if t.Port, err = parsePort(p); err != nil {
			return nil, fmt.Errorf("%w: ssh_config Port for %s: %v", transport.ErrConfig, alias, err)
		}
	}
	if t.User == "" {
		if t.User, err = r.get(alias, "User"); err != nil {
			return nil, err
		}
	}
	if t.User == "" {
		t.User = r.localUser
	}
	if t.User == "" {
		return nil, fmt.Errorf("%w: no login user for %s: set user in the inventory or ssh_config", transport.ErrConfig, alias)
	}

	ids, err := r.getAll(alias, "IdentityFile")
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		t.IdentityFiles = r.expandAll(ids, t)
	} else {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(r.home, ".ssh", name)
			if r.exists(p) {
				t.IdentityFiles = append(t.IdentityFiles, p)
			}
		}
	}

	kh, err := r.get(alias, "UserKnownHostsFile")
	if err != nil {
		return nil, err
	}
	if fields := strings.Fields(kh); len(fields) > 0 {
		t.KnownHosts = r.expandAll(fields, t)
	} else {
		t.KnownHosts = []string{filepath.Join(r.home, ".ssh", "known_hosts")}
		if r.exists("/etc/ssh/ssh_known_hosts") {
			t.KnownHosts = append(t.KnownHosts, "/etc/ssh/ssh_known_hosts")
		}
	}

	t.HostKeyChecking = checkingStrict
	shk, err := r.get(alias, "StrictHostKeyChecking")
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(shk) {
	case "", "yes", "ask":
		// "ask" needs a human at a prompt; opsrun runs unattended, so strict.
	case "accept-new", "no", "off":
		t.HostKeyChecking = checkingAcceptNew
	default:
		return nil, fmt.Errorf("%w: ssh_config StrictHostKeyChecking %q for %s", transport.ErrConfig, shk, alias)
	}

	t.ConnectTimeout = defaultConnectTimeout
	if v, err := r.seconds(alias, "ConnectTimeout"); err != nil {
		return nil, err
	} else if v > 0 {
		t.ConnectTimeout = v
	}
	t.KeepAliveInterval = r.keepAliveInterval
	if s, err := r.get(alias, "ServerAliveInterval"); err != nil {
		return nil, err
	} else if s != "" {
		// Explicit, so 0 means off, as in OpenSSH.
		if t.KeepAliveInterval, err = r.seconds(alias, "ServerAliveInterval"); err != nil {
			return nil, err
		}
	}
	t.KeepAliveCountMax = defaultKeepAliveCountMax
	if s, err := r.get(alias, "ServerAliveCountMax"); err != nil {
		return nil, err
	} else if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: ssh_config ServerAliveCountMax %q for %s", transport.ErrConfig, s, alias)
		}
		t.KeepAliveCountMax = n
	}
	return t, nil
}

// resolveJumps turns a ProxyJump value into the chain of hops in front of
// dest, returning the last hop (whose Via is the one before it). A hop
// without identity files or known_hosts of its own in ssh_config uses those
// of dest: a bastion is usually reached with the same key as the fleet.
func (r *resolver) resolveJumps(spec string, dest *Target, depth int) (*Target, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || strings.EqualFold(spec, "none") {
		return nil, nil
	}
	if depth >= maxJumpDepth {
		return nil, fmt.Errorf("%w: ProxyJump nested deeper than %d hops (a loop in ssh_config?)", transport.ErrConfig, maxJumpDepth)
	}
	var prev *Target
	for i, hop := range strings.Split(spec, ",") {
		user, host, port, err := parseHop(strings.TrimSpace(hop))
		if err != nil {
			return nil, fmt.Errorf("%w: ProxyJump %q: %v", transport.ErrConfig, spec, err)
		}
		t, err := r.resolveAlias(host, "", port, user)
		if err != nil {
			return nil, err
		}
		t.Name = hop
		if ids, _ := r.getAll(host, "IdentityFile"); len(ids) == 0 {
			t.IdentityFiles = dest.IdentityFiles
		}
		if kh, _ := r.get(host, "UserKnownHostsFile"); kh == "" {
			t.KnownHosts = dest.KnownHosts
		}
		if s, _ := r.get(host, "StrictHostKeyChecking"); s == "" {
			t.HostKeyChecking = dest.HostKeyChecking
		}
		if i == 0 {
			// Only the first hop is dialed directly, so only its own
			// ProxyJump (from ssh_config) can put more hops in front.
			own, err := r.get(host, "ProxyJump")
			if err != nil {
				return nil, err
			}
			if t.Via, err = r.resolveJumps(own, t, depth+1); err != nil {
				return nil, err
			}
		} else {
			t.Via = prev
		}
		prev = t
	}
	return prev, nil
}

// parseHop splits OpenSSH's [user@]host[:port] (host may be [ipv6]).
func parseHop(s string) (user, host string, port int, err error) {
	if s == "" {
		return "", "", 0, fmt.Errorf("empty hop")
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, s = s[:i], s[i+1:]
	}
	host = s
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", "", 0, fmt.Errorf("unclosed [ in %q", s)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", "", 0, fmt.Errorf("unexpected %q after ]", rest)
			}
			if port, err = parsePort(rest[1:]); err != nil {
				return "", "", 0, err
			}
		}
	} else if i := strings.LastIndex(s, ":"); i >= 0 && strings.Count(s, ":") == 1 {
		host = s[:i]
		if port, err = parsePort(s[i+1:]); err != nil {
			return "", "", 0, err
		}
	}
	if host == "" {
		return "", "", 0, fmt.Errorf("no host in %q", s)
	}
	return user, host, port, nil
}

// parsePort parses a port; "" means the default.
func parsePort(s string) (int, error) {
	if s == "" {
		return defaultPort, nil
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

func (r *resolver) get(alias, key string) (string, error) {
	if r.cfg == nil {
		return "", nil
	}
	v, err := r.cfg.Get(alias, key)
	if err != nil {
		return "", fmt.Errorf("%w: ssh_config %s for %s: %v", transport.ErrConfig, key, alias, err)
	}
	return strings.TrimSpace(v), nil
}

func (r *resolver) getAll(alias, key string) ([]string, error) {
	if r.cfg == nil {
		return nil, nil
	}
	v, err := r.cfg.GetAll(alias, key)
	if err != nil {
		return nil, fmt.Errorf("%w: ssh_config %s for %s: %v", transport.ErrConfig, key, alias, err)
	}
	return v, nil
}

// seconds reads an ssh_config time value (OpenSSH takes plain seconds here).
func (r *resolver) seconds(alias, key string) (time.Duration, error) {
	s, err := r.get(alias, key)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: ssh_config %s %q for %s: want whole seconds", transport.ErrConfig, key, s, alias)
	}
	return time.Duration(n) * time.Second, nil
}

func (r *resolver) expandAll(paths []string, t *Target) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, r.expand(p, t))
	}
	return out
}

// expand applies ssh_config's ~ and % tokens (%d %h %p %r %u %n %%) that
// make sense for file paths.
func (r *resolver) expand(p string, t *Target) string {
	if p == "~" {
		return r.home
	}
	if strings.HasPrefix(p, "~/") {
		p = filepath.Join(r.home, p[2:])
	}
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case 'd':
			b.WriteString(r.home)
		case 'h':
			b.WriteString(t.HostName)
		case 'p':
			b.WriteString(strconv.Itoa(t.Port))
		case 'r':
			b.WriteString(t.User)
		case 'u':
			b.WriteString(r.localUser)
		case 'n':
			b.WriteString(t.Name)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}

// fileExists is the resolver's default existence check.
func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
