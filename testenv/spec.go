package testenv

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// DeployPassword is the password of the host user "deploy", who may sudo
// only with it; tests of password authentication and become passwords use
// it. The user "opsrun" logs in with the fleet's key and sudoes without one.
const DeployPassword = "deploy-test-pw"

// Init systems a host can run as PID 1.
const (
	// InitSystemd boots systemd, so services really start and stop; the
	// default.
	InitSystemd = "systemd"
	// InitSSHD runs only sshd (under docker-init): light hosts for scale
	// tests, where hundreds of systemd instances would cost too much.
	InitSSHD = "sshd"
)

// BastionName is the inventory and host name of the jump host.
const BastionName = "bastion"

// maxNameLen keeps container names (opsrun-FLEET-HOST) and labels short
// enough to read in `docker ps`.
const maxNameLen = 40

// maxHosts guards against a typo (--hosts 10000) starting a runaway fleet.
const maxHosts = 1000

// Spec describes the fleet Up brings up.
type Spec struct {
	// Name is the fleet's name: [a-z0-9-]+, at most 40 characters. It
	// labels every container and names the network, so it must be unique
	// among the fleets on the Docker daemon.
	Name string
	// Layers adds Count hosts named LAYER-1..LAYER-Count to each layer.
	Layers []LayerCount
	// Hosts adds hosts host-1..host-N that are in no layer.
	Hosts int
	// Bastion adds a jump host named "bastion". The other hosts then
	// publish no port and are reachable only through it, as in a VPC.
	Bastion bool
	// Init is InitSystemd (the default when empty) or InitSSHD.
	Init string
	// Dir receives the inventory, ssh_config, keys and fleet.json; the
	// default is .opsrun/testenv/NAME under the working directory.
	Dir string
}

// LayerCount is how many hosts a layer gets.
type LayerCount struct {
	Layer string
	Count int
}

// nameRE is a DNS label: what a hostname, a network alias and a container
// name all accept.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidateName reports whether name can name a fleet.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errors.New("fleet name is empty: give one such as dev or t1")
	case len(name) > maxNameLen:
		return fmt.Errorf("fleet name %q is longer than %d characters", name, maxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("fleet name %q is not valid: use lower-case letters, digits and inner dashes", name)
	}
	return nil
}

// ParseLayers parses a layer list such as "web:2,db:1". A layer without a
// count ("web") gets one host. Layers must be valid host-name prefixes and
// appear once.
func ParseLayers(s string) ([]LayerCount, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []LayerCount
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		name, countStr, hasCount := strings.Cut(item, ":")
		name = strings.TrimSpace(name)
		count := 1
		if hasCount {
			n, err := strconv.Atoi(strings.TrimSpace(countStr))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("layer %q: count %q is not a positive number (want e.g. web:2,db:1)", name, countStr)
			}
			count = n
		}
		if name == "" {
			return nil, fmt.Errorf("layer list %q has an empty layer name (want e.g. web:2,db:1)", s)
		}
		out = append(out, LayerCount{Layer: name, Count: count})
	}
	if err := validateLayers(out); err != nil {
		return nil, err
	}
	return out, nil
}

func validateLayers(layers []LayerCount) error {
	seen := map[string]bool{}
	for _, l := range layers {
		if !nameRE.MatchString(l.Layer) || len(l.Layer) > maxNameLen {
			return fmt.Errorf("layer name %q is not valid: use lower-case letters, digits and inner dashes", l.Layer)
		}
		if l.Count < 1 {
			return fmt.Errorf("layer %q: count %d is not positive", l.Layer, l.Count)
		}
		if seen[l.Layer] {
			return fmt.Errorf("layer %q is given twice", l.Layer)
		}
		seen[l.Layer] = true
	}
	return nil
}

// validate checks the spec and fills in defaults (Init, Dir as an absolute
// path).
func (s *Spec) validate() error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if err := validateLayers(s.Layers); err != nil {
		return err
	}
	if s.Hosts < 0 {
		return fmt.Errorf("host count %d is negative", s.Hosts)
	}
	total := s.Hosts
	for _, l := range s.Layers {
		// Hosts "host-N" would collide with the hosts of a layer "host".
		if l.Layer == "host" && s.Hosts > 0 {
			return errors.New(`layer "host" clashes with the layerless hosts host-1..host-N: rename the layer`)
		}
		total += l.Count
	}
	if total == 0 {
		return errors.New("the fleet has no hosts: give a host count or layers (e.g. web:2,db:1)")
	}
	if total > maxHosts {
		return fmt.Errorf("the fleet would have %d hosts; at most %d are allowed", total, maxHosts)
	}
	switch s.Init {
	case "":
		s.Init = InitSystemd
	case InitSystemd, InitSSHD:
	default:
		return fmt.Errorf("init %q is not known: use %s or %s", s.Init, InitSystemd, InitSSHD)
	}
	if s.Dir == "" {
		s.Dir = DefaultDir(s.Name)
	}
	abs, err := filepath.Abs(s.Dir)
	if err != nil {
		return fmt.Errorf("fleet directory: %w", err)
	}
	s.Dir = abs
	return nil
}

// DefaultDir is where a fleet's files go when Spec.Dir is empty, relative to
// the working directory.
func DefaultDir(name string) string {
	return filepath.Join(".opsrun", "testenv", name)
}

// hostPlan is one host to create, before it has a container.
type hostPlan struct {
	Name   string
	Layers []string
}

// plan lists the hosts of a validated spec in a stable order: layers in
// spec order, then the layerless hosts. The bastion is not included.
func (s *Spec) plan() []hostPlan {
	var out []hostPlan
	for _, l := range s.Layers {
		for i := 1; i <= l.Count; i++ {
			out = append(out, hostPlan{Name: fmt.Sprintf("%s-%d", l.Layer, i), Layers: []string{l.Layer}})
		}
	}
	for i := 1; i <= s.Hosts; i++ {
		out = append(out, hostPlan{Name: fmt.Sprintf("host-%d", i), Layers: []string{}})
	}
	return out
}
