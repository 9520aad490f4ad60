package awsapi

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
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
// IP the host's fleet-network address. A host with a port published on
// 127.0.0.1 gets public IP 127.0.0.1 and TagSSHPort, so opsrun can reach
// it from this machine; a host behind the bastion has no public IP.
// Instance ids are derived from the fleet and host names, so they are
// stable across calls.
func FleetInstances(f *testenv.Fleet, region string, launched time.Time) []Instance {
	out := make([]Instance, 0, len(f.Hosts))
	for _, h := range f.Hosts {
		inst := Instance{
			ID:               instanceID(f.Name, h.Name),
			ImageID:          "ami-" + hashHex("image:"+testenv.ImageTag(), 17),
			State:            "running",
			Type:             "t3.micro",
			AvailabilityZone: region + "a",
			PrivateIP:        h.InternalIP,
			PrivateDNS:       privateDNS(h.InternalIP, region),
			LaunchTime:       launched,
			Tags: map[string]string{
				"Name":   h.Name,
				TagLayer: strings.Join(h.Layers, ","),
				TagStack: f.Name,
			},
		}
		if h.Address == "127.0.0.1" {
			inst.PublicIP = "127.0.0.1"
			inst.Tags[TagSSHPort] = strconv.Itoa(h.Port)
		}
		out = append(out, inst)
	}
	return out
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
