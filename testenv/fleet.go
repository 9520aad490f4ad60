package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Host is one running host of a fleet.
type Host struct {
	Name      string `json:"name"`      // host name, also its hostname and network alias
	Container string `json:"container"` // Docker container name
	// Address is what opsrun dials: 127.0.0.1 for a published port, the
	// fleet-network IP for a host behind the bastion.
	Address string `json:"address"`
	// Port is the published port on 127.0.0.1, or 22 behind the bastion.
	Port int `json:"port"`
	// InternalIP is the host's address on the fleet network, where the
	// other hosts (and the bastion) reach it.
	InternalIP string   `json:"internal_ip"`
	Layers     []string `json:"layers"`
	// HostKey is the host's SSH public key in authorized_keys format, the
	// one known_hosts pins.
	HostKey string `json:"host_key"`
}

// Fleet is a fleet Up brought up, with the paths of the files it wrote.
type Fleet struct {
	Name string `json:"name"`
	Dir  string `json:"dir"` // absolute
	// Init is the hosts' PID 1: InitSystemd or InitSSHD.
	Init  string `json:"init"`
	Hosts []Host `json:"hosts"` // every host but the bastion, in spec order
	// Bastion is the jump host, nil unless the spec asked for one.
	Bastion *Host `json:"bastion,omitempty"`

	InventoryPath  string `json:"inventory_path"`
	SSHConfigPath  string `json:"ssh_config_path"`
	KnownHostsPath string `json:"known_hosts_path"`
	KeyPath        string `json:"key_path"` // client private key; KeyPath+".pub" is its public half
}

// FleetStatus is what the Docker daemon knows about one fleet.
type FleetStatus struct {
	Name    string
	Dir     string // where Up wrote the fleet's files, from the containers' labels
	Hosts   []HostStatus
	Running int // hosts whose container is running
	Total   int
	// Network reports whether the fleet's network still exists (a fleet
	// whose Up was killed may leave only its network).
	Network bool
}

// HostStatus is one container of a fleet.
type HostStatus struct {
	Name, Container string
	State           string // Docker's: running, exited, created, ...
	// Status is Docker's description, e.g. "Exited (137) 2 seconds ago".
	Status string
}

// Tuning of Up. Creation is bounded because each step is a round trip to
// one Docker daemon, which serializes much of the work anyway; readiness
// checks are cheap and mostly wait, so more run at once.
const (
	createConcurrency = 8
	readyConcurrency  = 32
	readyTimeout      = 3 * time.Minute
	pollInterval      = 100 * time.Millisecond
	cleanupTimeout    = 2 * time.Minute
)

func networkName(fleet string) string         { return "opsrun-" + fleet }
func containerName(fleet, host string) string { return "opsrun-" + fleet + "-" + host }

// Up brings up the fleet spec describes and returns it once every host
// answers SSH. It builds the host image first if needed (see EnsureImage).
// On any failure, including ctx being cancelled, it removes every container,
// network and file it made before returning the error.
func Up(ctx context.Context, spec Spec, log *slog.Logger) (*Fleet, error) {
	return up(ctx, spec, log, nil)
}

// up is Up with a hook called at named stages, so tests can make a fleet
// fail half-way and check that nothing is left.
func up(ctx context.Context, spec Spec, log *slog.Logger, hook func(stage string) error) (fleet *Fleet, err error) {
	start := time.Now()
	if err := spec.validate(); err != nil {
		return nil, err
	}
	log = orDiscard(log).With("fleet", spec.Name)
	image, err := EnsureImage(ctx, log)
	if err != nil {
		return nil, err
	}
	if err := checkNameFree(ctx, spec.Name); err != nil {
		return nil, err
	}
	if err := checkDirFree(ctx, spec.Dir, spec.Name); err != nil {
		return nil, err
	}
	if spec.Init == InitSystemd {
		n := len(spec.plan())
		if spec.Bastion {
			n++
		}
		if err := checkInotify(n); err != nil {
			return nil, fmt.Errorf("fleet %s: %w", spec.Name, err)
		}
	}
	log.Info(fmt.Sprintf("bringing up fleet %s: %d hosts (init %s)", spec.Name, len(spec.plan()), spec.Init), "bastion", spec.Bastion)
	u := &upper{spec: spec, image: image, log: log, hook: hook}
	defer func() {
		if err != nil {
			u.undo(ctx)
		}
	}()
	f, err := u.up(ctx)
	if err != nil {
		return nil, fmt.Errorf("fleet %s: %w", spec.Name, err)
	}
	log.Info(fmt.Sprintf("fleet %s is up", spec.Name), "hosts", len(f.Hosts), "bastion", f.Bastion != nil, "duration", time.Since(start).Round(time.Millisecond))
	return f, nil
}

// checkNameFree refuses a name that any container or network still carries,
// so that Up never adopts, and later Down never removes, another fleet.
func checkNameFree(ctx context.Context, name string) error {
	st, err := statusOf(ctx, name)
	if err != nil {
		return err
	}
	if st != nil {
		return fmt.Errorf("fleet %q already exists (%d/%d hosts running): remove it with `opsrun testenv down --name %s` or pick another name", name, st.Running, st.Total, name)
	}
	return nil
}

// checkDirFree refuses a directory holding the files of another fleet that
// is still up: overwriting its key would lock its users out.
func checkDirFree(ctx context.Context, dir, name string) error {
	other, err := Load(dir)
	if err != nil || other.Name == name {
		return nil
	}
	st, err := statusOf(ctx, other.Name)
	if err != nil {
		return err
	}
	if st != nil {
		return fmt.Errorf("%s holds the files of fleet %q, which is still up: pick another directory or run `opsrun testenv down --name %s`", dir, other.Name, other.Name)
	}
	return nil
}

// upper is one Up in progress; it records what it made so undo removes
// exactly that.
type upper struct {
	spec  Spec
	image string
	log   *slog.Logger
	hook  func(stage string) error

	createdDir bool
	files      []string // written so far
	network    bool     // created by us
	containers syncList // created by us
}

func (u *upper) up(ctx context.Context) (*Fleet, error) {
	s := u.spec
	f := &Fleet{
		Name:           s.Name,
		Dir:            s.Dir,
		Init:           s.Init,
		InventoryPath:  filepath.Join(s.Dir, InventoryFile),
		SSHConfigPath:  filepath.Join(s.Dir, SSHConfigFile),
		KnownHostsPath: filepath.Join(s.Dir, KnownHostsFile),
		KeyPath:        filepath.Join(s.Dir, KeyFile),
	}
	if err := u.mkdir(); err != nil {
		return nil, err
	}
	clientKey, err := newKeyPair("opsrun-testenv-" + s.Name)
	if err != nil {
		return nil, err
	}
	if err := u.write(KeyFile, clientKey.PrivatePEM, 0o600); err != nil {
		return nil, err
	}
	if err := u.write(PubKeyFile, clientKey.AuthorizedKey(), 0o644); err != nil {
		return nil, err
	}

	plans := s.plan()
	if s.Bastion {
		// The bastion goes first so it is created even when the fleet is
		// large; its position is undone when the fleet is assembled.
		plans = append([]hostPlan{{Name: BastionName, Layers: []string{}}}, plans...)
	}
	hostKeys := make([]keyPair, len(plans))
	for i, p := range plans {
		if hostKeys[i], err = newKeyPair("root@" + p.Name); err != nil {
			return nil, err
		}
	}

	if _, err := docker(ctx, "network", "create",
		"--label", labelFleet+"="+s.Name, "--label", labelDir+"="+s.Dir,
		networkName(s.Name)); err != nil {
		if strings.Contains(err.Error(), "already exists") {
			return nil, fmt.Errorf("network %s already exists: remove the old fleet with `opsrun testenv down --name %s`", networkName(s.Name), s.Name)
		}
		if strings.Contains(err.Error(), "address pool") {
			return nil, fmt.Errorf("create network: Docker has no free subnet left (%w): remove stale fleets (opsrun testenv status, then down) or unused networks (docker network prune)", err)
		}
		return nil, fmt.Errorf("create network: %w", err)
	}
	u.network = true

	cgroup2 := isCgroup2()
	t0 := time.Now()
	err = forEach(ctx, len(plans), createConcurrency, func(ctx context.Context, i int) error {
		p := plans[i]
		published := !s.Bastion || p.Name == BastionName
		return u.createHost(ctx, p, containerName(s.Name, p.Name), published, cgroup2, hostFiles(hostKeys[i], clientKey))
	})
	if err != nil {
		return nil, err
	}
	u.log.Debug("containers started", "count", len(plans), "duration", time.Since(t0).Round(time.Millisecond))
	if u.hook != nil {
		if err := u.hook("started"); err != nil {
			return nil, err
		}
	}

	names := make([]string, len(plans))
	for i, p := range plans {
		names[i] = containerName(s.Name, p.Name)
	}
	hosts, err := u.inspect(ctx, plans, names)
	if err != nil {
		return nil, err
	}
	for i := range hosts {
		hosts[i].HostKey = strings.TrimSpace(string(hostKeys[i].AuthorizedKey()))
	}
	if s.Bastion {
		b := hosts[0]
		f.Bastion = &b
		hosts = hosts[1:]
	}
	f.Hosts = hosts

	t0 = time.Now()
	if err := u.waitReady(ctx, f); err != nil {
		return nil, err
	}
	u.log.Debug("hosts ready", "duration", time.Since(t0).Round(time.Millisecond))

	files, err := renderFleetFiles(f)
	if err != nil {
		return nil, err
	}
	for _, w := range files {
		if err := u.write(w.name, w.data, 0o644); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (u *upper) mkdir() error {
	dir := u.spec.Dir
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create fleet directory: %w", err)
		}
		u.createdDir = true
		return nil
	} else if err != nil {
		return fmt.Errorf("fleet directory: %w", err)
	}
	return nil
}

func (u *upper) write(name string, data []byte, mode fs.FileMode) error {
	path := filepath.Join(u.spec.Dir, name)
	u.files = append(u.files, path)
	// Remove first: WriteFile keeps the mode of an existing file, and a key
	// left group-readable by an earlier tool makes ssh refuse it.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// createHost creates the container name, injects the host's keys and
// starts it. Keys go in between create and start so sshd never runs
// without them.
func (u *upper) createHost(ctx context.Context, p hostPlan, name string, published, cgroup2 bool, files []tarFile) error {
	s := u.spec
	args := []string{"create", "--name", name, "--hostname", p.Name,
		"--label", labelFleet + "=" + s.Name,
		"--label", labelHost + "=" + p.Name,
		"--label", labelDir + "=" + s.Dir,
		"--network", networkName(s.Name), "--network-alias", p.Name,
	}
	if published {
		args = append(args, "-p", "127.0.0.1::22")
	}
	switch s.Init {
	case InitSystemd:
		// What systemd needs as PID 1 without --privileged (refused on the
		// machines this runs on): mount rights, a writable /run, the host's
		// cgroup tree, and the container marker it checks at boot.
		args = append(args, "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined",
			"--tmpfs", "/run", "--tmpfs", "/run/lock", "-e", "container=docker",
			"--stop-signal", "SIGRTMIN+3")
		if cgroup2 {
			args = append(args, "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw")
		} else {
			args = append(args, "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro")
		}
		args = append(args, u.image)
	case InitSSHD:
		// docker-init reaps the orphans that commands run over SSH leave.
		args = append(args, "--init", u.image, "/usr/sbin/sshd", "-D", "-e")
	}
	u.containers.add(name)
	if _, err := docker(ctx, args...); err != nil {
		return fmt.Errorf("host %s: create container: %w", p.Name, err)
	}
	archive, err := buildTar(files)
	if err != nil {
		return fmt.Errorf("host %s: %w", p.Name, err)
	}
	if _, err := run(ctx, runOpts{stdin: bytes.NewReader(archive)}, "docker", "cp", "-", name+":/"); err != nil {
		return fmt.Errorf("host %s: copy keys: %w", p.Name, err)
	}
	if _, err := docker(ctx, "start", name); err != nil {
		return fmt.Errorf("host %s: start container: %w", p.Name, err)
	}
	u.log.Debug("container started", "host", p.Name, "container", name)
	return nil
}

// inspectResult is the part of `docker inspect` Up reads.
type inspectResult struct {
	Name  string
	State struct {
		Status   string
		ExitCode int
	}
	NetworkSettings struct {
		Ports    map[string][]struct{ HostIp, HostPort string }
		Networks map[string]struct{ IPAddress string }
	}
}

// inspect reads every container's published port and fleet IP in one call;
// names[i] is the container of plans[i].
func (u *upper) inspect(ctx context.Context, plans []hostPlan, names []string) ([]Host, error) {
	out, err := docker(ctx, append([]string{"inspect", "--type", "container"}, names...)...)
	if err != nil {
		return nil, fmt.Errorf("inspect containers: %w", err)
	}
	var res []inspectResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("inspect containers: %w", err)
	}
	byName := map[string]inspectResult{}
	for _, r := range res {
		byName[strings.TrimPrefix(r.Name, "/")] = r
	}
	hosts := make([]Host, len(plans))
	for i, p := range plans {
		r, ok := byName[names[i]]
		if !ok {
			return nil, fmt.Errorf("host %s: container %s not found", p.Name, names[i])
		}
		h := Host{Name: p.Name, Container: names[i], Layers: p.Layers}
		h.InternalIP = r.NetworkSettings.Networks[networkName(u.spec.Name)].IPAddress
		if r.State.Status == "exited" {
			return nil, fmt.Errorf("host %s: %w", p.Name, u.exited(r.State.ExitCode, names[i]))
		}
		if h.InternalIP == "" {
			return nil, fmt.Errorf("host %s: no IP on network %s (container %s)", p.Name, networkName(u.spec.Name), r.State.Status)
		}
		published := !u.spec.Bastion || p.Name == BastionName
		if published {
			port, err := publishedPort(r)
			if err != nil {
				return nil, fmt.Errorf("host %s: %w", p.Name, err)
			}
			h.Address, h.Port = "127.0.0.1", port
		} else {
			h.Address, h.Port = h.InternalIP, 22
		}
		hosts[i] = h
	}
	return hosts, nil
}

// exited explains a container that stopped on its own during Up.
func (u *upper) exited(code int, container string) error {
	if u.spec.Init == InitSystemd && code == 255 {
		// systemd's silent exit; the usual cause is the inotify limit,
		// shared with every other systemd container on the machine.
		return fmt.Errorf("container %s exited at boot (status 255), as systemd does when root's inotify instances run out: %s", container, inotifyFix)
	}
	return fmt.Errorf("container %s exited (status %d): see `docker logs %s`", container, code, container)
}

func publishedPort(r inspectResult) (int, error) {
	for _, b := range r.NetworkSettings.Ports["22/tcp"] {
		if b.HostIp != "127.0.0.1" {
			continue
		}
		var port int
		if _, err := fmt.Sscanf(b.HostPort, "%d", &port); err == nil && port > 0 {
			return port, nil
		}
	}
	return 0, fmt.Errorf("port 22 is not published on 127.0.0.1 (container %s)", r.State.Status)
}

// undo removes what this Up made. It runs on a context of its own because
// the usual reason for undoing is that ctx was cancelled.
func (u *upper) undo(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if names := u.containers.list(); len(names) > 0 {
		// Containers whose create failed do not exist; rm -f reports them
		// but removes the rest.
		if _, err := docker(ctx, append([]string{"rm", "-f", "-v"}, names...)...); err != nil && !isNoSuchContainer(err) {
			u.log.Warn("cleanup: remove containers", "err", err)
		}
	}
	if u.network {
		if _, err := docker(ctx, "network", "rm", networkName(u.spec.Name)); err != nil {
			u.log.Warn("cleanup: remove network", "err", err)
		}
	}
	for _, p := range u.files {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("cleanup: remove file", "file", p, "err", err)
		}
	}
	if u.createdDir {
		os.Remove(u.spec.Dir) // only if empty: never delete what others put there
	}
}

func isNoSuchContainer(err error) bool {
	return strings.Contains(err.Error(), "No such container")
}

// Down removes a fleet: its containers and network (found by label, so it
// works without the files) and the files Up wrote in dir. With dir empty it
// uses the directory recorded on the containers, else the default one; with
// name empty it reads the name from dir's fleet.json. Removing a fleet that
// does not exist is not an error.
func Down(ctx context.Context, name string, dir string) error {
	if name == "" {
		if dir == "" {
			return errors.New("down: give a fleet name or directory")
		}
		f, err := Load(dir)
		if err != nil {
			return fmt.Errorf("down: %w", err)
		}
		name = f.Name
	}
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := checkDocker(ctx); err != nil {
		return err
	}
	st, err := statusOf(ctx, name)
	if err != nil {
		return err
	}
	if st != nil {
		if len(st.Hosts) > 0 {
			args := []string{"rm", "-f", "-v"}
			for _, h := range st.Hosts {
				args = append(args, h.Container)
			}
			if _, err := docker(ctx, args...); err != nil && !isNoSuchContainer(err) {
				return fmt.Errorf("down %s: remove containers: %w", name, err)
			}
		}
		if st.Network {
			if _, err := docker(ctx, "network", "rm", networkName(name)); err != nil && !strings.Contains(err.Error(), "not found") {
				return fmt.Errorf("down %s: remove network: %w", name, err)
			}
		}
		if dir == "" {
			dir = st.Dir
		}
	}
	if dir == "" {
		dir = DefaultDir(name)
	}
	return removeFiles(dir, name)
}

// removeFiles deletes the files Up wrote, unless dir's fleet.json says they
// belong to another fleet, then the directory if that leaves it empty.
func removeFiles(dir, name string) error {
	if f, err := Load(dir); err == nil && f.Name != name {
		return nil
	}
	for _, n := range fleetFiles {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("down %s: %w", name, err)
		}
	}
	os.Remove(dir) // fails, as it should, when something else is in there
	return nil
}

// Status lists the fleets the Docker daemon has, sorted by name.
func Status(ctx context.Context) ([]FleetStatus, error) {
	if err := checkDocker(ctx); err != nil {
		return nil, err
	}
	return statuses(ctx, "")
}

// statusOf is the status of one fleet, nil when nothing of it exists.
func statusOf(ctx context.Context, name string) (*FleetStatus, error) {
	all, err := statuses(ctx, name)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	return &all[0], nil
}

// statuses reads containers and networks by label; name "" means all fleets.
func statuses(ctx context.Context, name string) ([]FleetStatus, error) {
	filter := labelFleet
	if name != "" {
		filter += "=" + name
	}
	out, err := docker(ctx, "ps", "-a", "--filter", "label="+filter, "--format",
		`{{.Label "`+labelFleet+`"}}	{{.Label "`+labelHost+`"}}	{{.Names}}	{{.State}}	{{.Label "`+labelDir+`"}}	{{.Status}}`)
	if err != nil {
		return nil, fmt.Errorf("list fleet containers: %w", err)
	}
	byName := map[string]*FleetStatus{}
	get := func(n string) *FleetStatus {
		if byName[n] == nil {
			byName[n] = &FleetStatus{Name: n}
		}
		return byName[n]
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) != 6 {
			continue
		}
		st := get(fields[0])
		st.Hosts = append(st.Hosts, HostStatus{Name: fields[1], Container: fields[2], State: fields[3], Status: fields[5]})
		st.Total++
		if fields[3] == "running" {
			st.Running++
		}
		if st.Dir == "" {
			st.Dir = fields[4]
		}
	}
	out, err = docker(ctx, "network", "ls", "--filter", "label="+filter, "--format",
		`{{.Label "`+labelFleet+`"}}	{{.Label "`+labelDir+`"}}`)
	if err != nil {
		return nil, fmt.Errorf("list fleet networks: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) != 2 || fields[0] == "" {
			continue
		}
		st := get(fields[0])
		st.Network = true
		if st.Dir == "" {
			st.Dir = fields[1]
		}
	}
	var all []FleetStatus
	for _, st := range byName {
		sort.Slice(st.Hosts, func(i, j int) bool { return st.Hosts[i].Container < st.Hosts[j].Container })
		all = append(all, *st)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all, nil
}

// Load reads the fleet Up described in dir's fleet.json.
func Load(dir string) (*Fleet, error) {
	data, err := os.ReadFile(filepath.Join(dir, FleetFile))
	if err != nil {
		return nil, fmt.Errorf("load fleet: %w", err)
	}
	var f Fleet
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("load fleet: %s: %w", filepath.Join(dir, FleetFile), err)
	}
	if err := ValidateName(f.Name); err != nil {
		return nil, fmt.Errorf("load fleet: %s: %w", filepath.Join(dir, FleetFile), err)
	}
	return &f, nil
}

// host finds a host by name, the bastion included.
func (f *Fleet) host(name string) (*Host, error) {
	if f.Bastion != nil && f.Bastion.Name == name {
		return f.Bastion, nil
	}
	for i := range f.Hosts {
		if f.Hosts[i].Name == name {
			return &f.Hosts[i], nil
		}
	}
	return nil, fmt.Errorf("fleet %s has no host %q", f.Name, name)
}

// Kill stops a host abruptly (docker kill), as a machine that dies
// mid-run: its SSH connections drop without a goodbye.
func (f *Fleet) Kill(ctx context.Context, host string) error {
	h, err := f.host(host)
	if err != nil {
		return err
	}
	if _, err := docker(ctx, "kill", h.Container); err != nil {
		return fmt.Errorf("kill %s: %w", host, err)
	}
	return nil
}

// Exec runs a command as root on a host through docker exec, not SSH, so
// tests can check a host's state without trusting the code under test. It
// returns stdout; a non-zero exit is an error that wraps *exec.ExitError and
// carries the last line of stderr.
func (f *Fleet) Exec(ctx context.Context, host string, args ...string) ([]byte, error) {
	h, err := f.host(host)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, errors.New("exec: no command")
	}
	out, err := docker(ctx, append([]string{"exec", h.Container}, args...)...)
	if err != nil {
		return out, fmt.Errorf("exec on %s: %w", host, err)
	}
	return out, nil
}

// isCgroup2 reports whether the machine runs the unified cgroup hierarchy,
// which needs a different mount for systemd in a container.
func isCgroup2() bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		return false
	}
	const cgroup2SuperMagic = 0x63677270
	return st.Type == cgroup2SuperMagic
}
