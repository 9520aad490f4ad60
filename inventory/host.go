// Package inventory owns the hosts a run targets: their addresses, the
// layers they play, their variables and how to reach them. The static
// inventory is HCL (see Load); later sources (EC2) yield the same Host type.
package inventory

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Host is one managed machine as the inventory describes it. Zero values
// mean "not set here": the SSH transport then falls back to ssh_config and
// OpenSSH's defaults, in that order.
type Host struct {
	Name    string // unique inventory name; also the ssh_config Host alias
	Address string // host name or IP to dial; empty means Name
	Port    int    // 0 means ssh_config's Port, else 22
	User    string // login user; empty means ssh_config's User, else the local user
	Layers  []string
	Vars    map[string]cty.Value
	SSH     SSH
	// DeclRange is where the host was declared, for diagnostics.
	DeclRange hcl.Range
}

// SSH holds the per-host connection settings an inventory may give. Paths
// are absolute (resolved against the inventory file's directory on load).
type SSH struct {
	IdentityFiles []string
	KnownHosts    []string
	// HostKeyChecking is "strict" or "accept-new"; empty means the
	// ssh_config StrictHostKeyChecking value, else strict.
	HostKeyChecking string
	// ProxyJump is OpenSSH's syntax: comma-separated [user@]host[:port]
	// hops, each of which may also be an ssh_config alias.
	ProxyJump      string
	Password       string // password authentication, only when set
	BecomePassword string // fed to sudo on stdin, never in argv or env
	ConnectTimeout time.Duration
}

// Addr is the address to dial: Address, or Name when Address is empty.
func (h *Host) Addr() string {
	if h.Address != "" {
		return h.Address
	}
	return h.Name
}

// InLayer reports whether the host plays the named layer.
func (h *Host) InLayer(layer string) bool {
	for _, l := range h.Layers {
		if l == layer {
			return true
		}
	}
	return false
}

// StringVar is the host var name as a plain string: "" when it is unset,
// not a known string, or sensitive (a secret is never an identifier), and
// for a nil host (a member the state store kept no host for).
func (h *Host) StringVar(name string) string {
	if h == nil {
		return ""
	}
	v, ok := h.Vars[name]
	if !ok || !v.IsKnown() || v.IsNull() || v.IsMarked() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// InstanceID is the host's EC2 instance id (var instance_id, which the
// EC2 inventory sets), "" for a static host.
func (h *Host) InstanceID() string { return h.StringVar("instance_id") }
