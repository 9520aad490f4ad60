package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// This file changes a fleet after Up: hosts launched, stopped, started and
// removed one at a time, as the local EC2 endpoint does for RunInstances,
// StopInstances, StartInstances and TerminateInstances.
//
// Each change rewrites the fleet's files so that what a client reads stays
// true: fleet.json, known_hosts, ssh_config and inventory.hcl all list the
// hosts that exist, at the port Docker published for them this time. The
// rewrites hold an flock on the fleet's LockFile and re-read fleet.json
// under it, so concurrent changes, from goroutines of one process or from
// several processes, never lose each other's edits. The methods only read
// the fields Up set once (name, directory, init, bastion); they change the
// files, not the Fleet value, which Reload brings up to date.

// lockPollInterval is how often a change waiting for the fleet's lock
// tries again; rewrites take milliseconds.
const lockPollInterval = 10 * time.Millisecond

// LaunchSpec describes a host Launch adds to a running fleet.
type LaunchSpec struct {
	// Name is the host's name: its hostname and network alias, and its
	// name in the inventory, ssh_config and fleet.json. Lower-case letters,
	// digits and inner dashes, at most 40 characters, not "bastion".
	Name string
	// Layers are the host's layers in the inventory.
	Layers []string
	// Suffix, when set, ends the container's name:
	// opsrun-FLEET-NAME-SUFFIX. It lets a host take the name of one whose
	// container still exists, e.g. while that one is being removed.
	Suffix string
}

func (s LaunchSpec) validate() error {
	switch {
	case s.Name == BastionName:
		return fmt.Errorf("host name %q is the bastion's", s.Name)
	case len(s.Name) > maxNameLen || !nameRE.MatchString(s.Name):
		return fmt.Errorf("host name %q is not valid: use at most %d lower-case letters, digits and inner dashes", s.Name, maxNameLen)
	case s.Suffix != "" && (len(s.Suffix) > maxNameLen || !nameRE.MatchString(s.Suffix)):
		return fmt.Errorf("container suffix %q is not valid: use at most %d lower-case letters, digits and inner dashes", s.Suffix, maxNameLen)
	}
	for _, l := range s.Layers {
		if len(l) > maxNameLen || !nameRE.MatchString(l) {
			return fmt.Errorf("layer name %q is not valid: use lower-case letters, digits and inner dashes", l)
		}
	}
	return nil
}

// Launch adds a host to the fleet as Up makes them: a container of the
// host image on the fleet's network, with the fleet's labels (so Down
// removes it), its port 22 published on 127.0.0.1 unless the fleet has a
// bastion, a fresh host key and the fleet's client key authorized. Once
// its sshd answers, Launch adds it to the fleet's files (known_hosts
// first) and returns it. A host already listed under the same name is
// replaced in the files, not removed: that is how a replacement takes the
// place of a host whose removal is under way. On failure the container is
// removed and the files are left as they were.
func (f *Fleet) Launch(ctx context.Context, spec LaunchSpec, log *slog.Logger) (h Host, err error) {
	if err := spec.validate(); err != nil {
		return Host{}, fmt.Errorf("launch in fleet %s: %w", f.Name, err)
	}
	log = orDiscard(log).With("fleet", f.Name, "host", spec.Name)
	image, err := EnsureImage(ctx, log)
	if err != nil {
		return Host{}, err
	}
	pub, err := os.ReadFile(filepath.Join(f.Dir, PubKeyFile))
	if err != nil {
		return Host{}, fmt.Errorf("launch %s: client key: %w", spec.Name, err)
	}
	clientPub, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		return Host{}, fmt.Errorf("launch %s: client key %s: %w", spec.Name, filepath.Join(f.Dir, PubKeyFile), err)
	}
	hostKey, err := newKeyPair("root@" + spec.Name)
	if err != nil {
		return Host{}, err
	}
	container := containerName(f.Name, spec.Name)
	if spec.Suffix != "" {
		container += "-" + spec.Suffix
	}
	// A taken name must fail before createHost: the cleanup below removes
	// the container by name, which would then be another host's.
	switch err := f.owns(ctx, container); {
	case errors.Is(err, errNoContainer):
	case err == nil:
		return Host{}, fmt.Errorf("launch %s: container %s already exists", spec.Name, container)
	default: // another fleet's container of that name, or Docker failing
		return Host{}, fmt.Errorf("launch %s: %w", spec.Name, err)
	}
	plan := hostPlan{Name: spec.Name, Layers: append([]string{}, spec.Layers...)}
	u := f.upper(image, log)
	defer func() {
		if err != nil {
			u.undo(ctx)
		}
	}()
	published := f.Bastion == nil
	if err := u.createHost(ctx, plan, container, published, isCgroup2(), hostFiles(hostKey, keyPair{Public: clientPub})); err != nil {
		return Host{}, err
	}
	if h, err = u.readyHost(ctx, plan, container); err != nil {
		return Host{}, err
	}
	h.HostKey = strings.TrimSpace(string(hostKey.AuthorizedKey()))
	err = f.update(ctx, func(nf *Fleet) error {
		for i := range nf.Hosts {
			if nf.Hosts[i].Name == h.Name {
				log.Info("launched host replaces a listed one of the same name in the fleet's files", "old_container", nf.Hosts[i].Container, "container", container)
				nf.Hosts[i] = h
				return nil
			}
		}
		nf.Hosts = append(nf.Hosts, h)
		return nil
	})
	if err != nil {
		return Host{}, err
	}
	log.Info("host launched", "container", container, "address", hostPort(h.Address, h.Port))
	return h, nil
}

// StopHost stops a host's container (docker stop: a clean shutdown). The
// files keep listing it, at the port it had, until StartHost gives it the
// one Docker publishes next. Stopping a stopped host does nothing.
func (f *Fleet) StopHost(ctx context.Context, container string) error {
	if err := f.owns(ctx, container); err != nil {
		return err
	}
	if _, err := docker(ctx, "stop", container); err != nil {
		return fmt.Errorf("stop %s: %w", container, err)
	}
	return nil
}

// StartHost starts a host's container (docker start), waits until its
// sshd answers, and rewrites the files with the port and address Docker
// gave it this time; it returns the host as the files now list it. The
// host must be listed in the fleet's files. Its keys live in the
// container, so known_hosts keeps the same key, under the new port.
func (f *Fleet) StartHost(ctx context.Context, container string) (Host, error) {
	if err := f.owns(ctx, container); err != nil {
		return Host{}, err
	}
	listed, err := Load(f.Dir)
	if err != nil {
		return Host{}, err
	}
	old, ok := hostByContainer(listed, container)
	if !ok {
		return Host{}, fmt.Errorf("start %s: the files of fleet %s do not list it", container, f.Name)
	}
	if _, err := docker(ctx, "start", container); err != nil {
		return Host{}, fmt.Errorf("start %s: %w", old.Name, err)
	}
	h, err := f.upper("", nil).readyHost(ctx, hostPlan{Name: old.Name, Layers: old.Layers}, container)
	if err != nil {
		return Host{}, err
	}
	err = f.update(ctx, func(nf *Fleet) error {
		for i := range nf.Hosts {
			if nf.Hosts[i].Container == container {
				nf.Hosts[i].Address, nf.Hosts[i].Port, nf.Hosts[i].InternalIP = h.Address, h.Port, h.InternalIP
				h = nf.Hosts[i]
				return nil
			}
		}
		return fmt.Errorf("start %s: the host left the files of fleet %s while it started", old.Name, f.Name)
	})
	if err != nil {
		return Host{}, err
	}
	return h, nil
}

// RemoveHost drops the host whose container this is from the fleet's
// files, then removes the container (docker rm -f). Removing a host that
// is already gone is not an error.
func (f *Fleet) RemoveHost(ctx context.Context, container string) error {
	err := f.owns(ctx, container)
	gone := errors.Is(err, errNoContainer)
	if err != nil && !gone {
		return err
	}
	err = f.update(ctx, func(nf *Fleet) error {
		kept := nf.Hosts[:0]
		for _, h := range nf.Hosts {
			if h.Container != container {
				kept = append(kept, h)
			}
		}
		nf.Hosts = kept
		return nil
	})
	if err != nil {
		return err
	}
	if gone {
		return nil
	}
	if _, err := docker(ctx, "rm", "-f", "-v", container); err != nil && !isNoSuchContainer(err) {
		return fmt.Errorf("remove %s: %w", container, err)
	}
	return nil
}

// Reload re-reads the fleet's files into f, after changes made by Launch,
// StartHost or RemoveHost (here or in another process).
func (f *Fleet) Reload() error {
	fresh, err := Load(f.Dir)
	if err != nil {
		return err
	}
	if fresh.Name != f.Name {
		return fmt.Errorf("reload fleet %s: %s now holds fleet %q", f.Name, f.Dir, fresh.Name)
	}
	*f = *fresh
	return nil
}

// Containers lists the fleet's containers as the Docker daemon sees them
// (the bastion's included), sorted by container name; none when the fleet
// has no container left.
func (f *Fleet) Containers(ctx context.Context) ([]HostStatus, error) {
	st, err := statusOf(ctx, f.Name)
	if err != nil || st == nil {
		return nil, err
	}
	return st.Hosts, nil
}

// upper makes an upper for work on this existing fleet: its spec carries
// what createHost, inspect and hostReady read.
func (f *Fleet) upper(image string, log *slog.Logger) *upper {
	return &upper{
		spec:  Spec{Name: f.Name, Dir: f.Dir, Init: f.Init, Bastion: f.Bastion != nil},
		image: image,
		log:   orDiscard(log),
	}
}

// readyHost reads a started container's addresses and waits until its
// sshd answers where clients dial it.
func (u *upper) readyHost(ctx context.Context, p hostPlan, container string) (Host, error) {
	hosts, err := u.inspect(ctx, []hostPlan{p}, []string{container})
	if err != nil {
		return Host{}, err
	}
	h := hosts[0]
	rctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := u.hostReady(rctx, h); err != nil {
		return Host{}, fmt.Errorf("host %s: not ready: %w", h.Name, err)
	}
	return h, nil
}

// errNoContainer marks a container that does not exist.
var errNoContainer = errors.New("no such container")

// owns checks that container exists and belongs to this fleet, so that no
// method of one fleet ever stops or removes another's container.
func (f *Fleet) owns(ctx context.Context, container string) error {
	out, err := docker(ctx, "inspect", "--type", "container", "--format", `{{index .Config.Labels "`+labelFleet+`"}}`, container)
	if err != nil {
		if strings.Contains(err.Error(), "No such") {
			return fmt.Errorf("container %s: %w", container, errNoContainer)
		}
		return fmt.Errorf("inspect %s: %w", container, err)
	}
	if got := strings.TrimSpace(string(out)); got != f.Name {
		return fmt.Errorf("container %s is not a host of fleet %s", container, f.Name)
	}
	return nil
}

func hostByContainer(f *Fleet, container string) (Host, bool) {
	for _, h := range f.Hosts {
		if h.Container == container {
			return h, true
		}
	}
	return Host{}, false
}

// update applies change to the fleet's description under the fleet's lock:
// it re-reads fleet.json, lets change edit it, and rewrites every file
// derived from it, each atomically (a reader sees the old file or the new
// one, never half of one).
func (f *Fleet) update(ctx context.Context, change func(*Fleet) error) error {
	unlock, err := lockFleet(ctx, filepath.Join(f.Dir, LockFile))
	if err != nil {
		return fmt.Errorf("fleet %s: %w", f.Name, err)
	}
	defer unlock()
	cur, err := Load(f.Dir)
	if err != nil {
		return err
	}
	if cur.Name != f.Name {
		return fmt.Errorf("fleet %s: %s now holds fleet %q", f.Name, f.Dir, cur.Name)
	}
	if err := change(cur); err != nil {
		return err
	}
	files, err := renderFleetFiles(cur)
	if err != nil {
		return fmt.Errorf("fleet %s: %w", f.Name, err)
	}
	for _, w := range files {
		if err := writeAtomic(filepath.Join(f.Dir, w.name), w.data, 0o644); err != nil {
			return fmt.Errorf("fleet %s: %w", f.Name, err)
		}
	}
	return nil
}

// lockFleet takes an exclusive flock on path. flock(2) locks belong to the
// open file, so two goroutines of one process exclude each other as two
// processes do. It polls rather than blocking in flock(2), which ctx could
// not interrupt.
func lockFleet(ctx context.Context, path string) (unlock func(), err error) {
	lf, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Closing the file releases the lock.
			return func() { lf.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			lf.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			lf.Close()
			return nil, fmt.Errorf("wait for %s: %w", path, ctx.Err())
		case <-time.After(lockPollInterval):
		}
	}
}

// writeAtomic writes path through a temporary file in the same directory
// and a rename.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
