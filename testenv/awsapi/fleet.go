package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opsrun/opsrun/testenv"
)

// Tags FleetInstances puts on every instance.
const (
	// TagLayer holds the host's layers, comma-joined: what an EC2
	// inventory's layer_tag names.
	TagLayer = "opsrun:layer"
	// TagStack holds the fleet's name.
	TagStack = "opsrun:stack"
	// TagSSHPort is a testenv convention, not an AWS one: fleet hosts all
	// share 127.0.0.1 as their public IP and differ only by the port Docker
	// published their sshd on, so the instance carries that port in this
	// tag, which opsrun's EC2 inventory honours as a per-instance port.
	TagSSHPort = "opsrun:ssh-port"
)

// FleetInstances describes each host of f (the bastion excepted) as a
// running instance in region: tags Name=host, TagLayer, TagStack; private
// IP the host's fleet-network address; in the endpoint's default subnet
// and security group, with key pair opsrun-testenv-FLEET (the fleet's
// client key). A host with a port published on 127.0.0.1 gets public IP
// 127.0.0.1 and TagSSHPort, so opsrun can reach it from this machine; a
// host behind the bastion has no public IP. Instance ids are derived from
// the fleet and host names, so they are stable across calls.
func FleetInstances(f *testenv.Fleet, region string, launched time.Time) []Instance {
	out := make([]Instance, 0, len(f.Hosts))
	for _, h := range f.Hosts {
		inst := Instance{
			ID:               instanceID(f.Name, h.Name),
			ImageID:          fleetImageID(),
			State:            stateRunning,
			Type:             "t3.micro",
			AvailabilityZone: region + "a",
			LaunchTime:       launched,
			SubnetID:         DefaultSubnetID,
			VpcID:            DefaultVpcID,
			KeyName:          fleetKeyName(f),
			SecurityGroups:   []SecurityGroup{{ID: DefaultSecurityGroupID, Name: DefaultSecurityGroupName}},
			Tags: map[string]string{
				"Name":   h.Name,
				TagLayer: strings.Join(h.Layers, ","),
				TagStack: f.Name,
			},
		}
		placeOnHost(&inst, h, region)
		out = append(out, inst)
	}
	return out
}

// fleetImageID is the AMI id fleet hosts report: one per host image.
func fleetImageID() string { return "ami-" + hashHex("image:"+testenv.ImageTag(), 17) }

// fleetKeyName is the key pair name fleet hosts report.
func fleetKeyName(f *testenv.Fleet) string { return "opsrun-testenv-" + f.Name }

// placeOnHost sets inst's addresses from the fleet host it runs on: the
// private IP on the fleet network, and 127.0.0.1 with TagSSHPort when the
// host's sshd is published there.
func placeOnHost(inst *Instance, h testenv.Host, region string) {
	inst.PrivateIP = h.InternalIP
	inst.PrivateDNS = privateDNS(h.InternalIP, region)
	if inst.Tags == nil {
		inst.Tags = map[string]string{}
	}
	if h.Address == "127.0.0.1" {
		inst.PublicIP = "127.0.0.1"
		inst.Tags[TagSSHPort] = strconv.Itoa(h.Port)
	} else {
		inst.PublicIP = ""
		delete(inst.Tags, TagSSHPort)
	}
}

// NewFleetServer returns a server whose instances are f's hosts (see
// FleetInstances) and whose instance operations act on f through a
// FleetBackend: RunInstances starts containers in the fleet, and so on.
// Close it to end the work in flight.
func NewFleetServer(f *testenv.Fleet, region string, log *slog.Logger) *Server {
	return NewWithBackend(FleetInstances(f, region, time.Now()), NewFleetBackend(f, region, log), log)
}

// FleetBackend runs a Server's instances as hosts of a testenv fleet:
// launching an instance is testenv.Fleet.Launch (a new container, in the
// fleet's files once its sshd answers), stopping and starting it are
// docker stop and start (StartHost rewrites the files with the new port),
// terminating it removes the container and drops it from the files. The
// fleet's own hosts are instances too (see FleetInstances), so they can be
// stopped, started and terminated the same way.
//
// A launched host is named after the instance's Name tag (its id when it
// has none, which must then make a valid host name) and gets the layers
// of its TagLayer tag; its container name ends with the instance id, so it
// never collides with the container of a host of the same name that is
// still being removed. It is safe for concurrent use.
type FleetBackend struct {
	fleet  *testenv.Fleet
	region string
	log    *slog.Logger

	mu         sync.Mutex
	containers map[string]string // instance id -> container
}

// NewFleetBackend returns the backend for f's hosts, whose instances are
// those FleetInstances(f, region, ...) describes.
func NewFleetBackend(f *testenv.Fleet, region string, log *slog.Logger) *FleetBackend {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &FleetBackend{fleet: f, region: region, log: log, containers: map[string]string{}}
	for _, h := range f.Hosts {
		b.containers[instanceID(f.Name, h.Name)] = h.Container
	}
	return b
}

func (b *FleetBackend) container(id string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.containers[id]
	return c, ok
}

// Launch starts a host for inst (see FleetBackend).
func (b *FleetBackend) Launch(ctx context.Context, inst Instance) (Instance, error) {
	// The instance id makes the container name unique; a host named
	// after it already has it.
	name, suffix := inst.Tags["Name"], inst.ID
	if name == "" {
		name, suffix = inst.ID, ""
	}
	var layers []string
	for _, l := range strings.Split(inst.Tags[TagLayer], ",") {
		if l = strings.TrimSpace(l); l != "" {
			layers = append(layers, l)
		}
	}
	h, err := b.fleet.Launch(ctx, testenv.LaunchSpec{Name: name, Layers: layers, Suffix: suffix}, b.log)
	if err != nil {
		return inst, err
	}
	b.mu.Lock()
	b.containers[inst.ID] = h.Container
	b.mu.Unlock()
	placeOnHost(&inst, h, b.region)
	return inst, nil
}

// Stop stops inst's container.
func (b *FleetBackend) Stop(ctx context.Context, inst Instance) error {
	c, ok := b.container(inst.ID)
	if !ok {
		return fmt.Errorf("instance %s has no host in fleet %s", inst.ID, b.fleet.Name)
	}
	return b.fleet.StopHost(ctx, c)
}

// Start starts inst's container and reports its new addresses and port.
func (b *FleetBackend) Start(ctx context.Context, inst Instance) (Instance, error) {
	c, ok := b.container(inst.ID)
	if !ok {
		return inst, fmt.Errorf("instance %s has no host in fleet %s", inst.ID, b.fleet.Name)
	}
	h, err := b.fleet.StartHost(ctx, c)
	if err != nil {
		return inst, err
	}
	placeOnHost(&inst, h, b.region)
	return inst, nil
}

// Terminate removes inst's container and drops its host from the files.
func (b *FleetBackend) Terminate(ctx context.Context, inst Instance) error {
	c, ok := b.container(inst.ID)
	if !ok {
		return nil // its launch failed: no host was made
	}
	if err := b.fleet.RemoveHost(ctx, c); err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.containers, inst.ID)
	b.mu.Unlock()
	return nil
}

// Observe reads the fleet's containers from Docker: a running container
// is a running instance, any other state a stopped one, a missing
// container a terminated one.
func (b *FleetBackend) Observe(ctx context.Context, insts []Instance) (map[string]Observation, error) {
	list, err := b.fleet.Containers(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]testenv.HostStatus{}
	for _, c := range list {
		byName[c.Container] = c
	}
	out := map[string]Observation{}
	for _, inst := range insts {
		name, ok := b.container(inst.ID)
		if !ok {
			continue
		}
		c, ok := byName[name]
		switch {
		case !ok:
			out[inst.ID] = Observation{State: stateTerminated, Reason: fmt.Sprintf("the instance's container %s no longer exists", name)}
		case c.State == "running":
			out[inst.ID] = Observation{State: stateRunning}
		default:
			out[inst.ID] = Observation{State: stateStopped, Reason: fmt.Sprintf("the instance's container %s is %s (%s), not stopped through the EC2 API", name, c.State, c.Status)}
		}
	}
	return out, nil
}

// instanceID is i- and 17 hex digits, the shape of a current EC2 id.
func instanceID(fleet, host string) string {
	return "i-" + hashHex("instance:"+fleet+"/"+host, 17)
}

func hashHex(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// privateDNS is EC2's internal host name for ip: ip-A-B-C-D.ec2.internal
// in us-east-1, ip-A-B-C-D.REGION.compute.internal elsewhere.
func privateDNS(ip, region string) string {
	if ip == "" {
		return ""
	}
	name := "ip-" + strings.ReplaceAll(ip, ".", "-")
	if region == "us-east-1" {
		return name + ".ec2.internal"
	}
	return name + "." + region + ".compute.internal"
}
