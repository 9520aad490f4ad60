package facts

import (
	"math/bits"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// ifaddr is one IPv4 address of an interface.
type ifaddr struct {
	iface string
	addr  netip.Addr
}

// wanted leaves out what no recipe wants as "the host's address": the
// loopback interface and addresses that are not real unicast IPv4.
func wanted(iface string, a netip.Addr) bool {
	return iface != "" && iface != "lo" && a.Is4() && !a.IsLoopback() && !a.IsUnspecified() && !a.IsMulticast()
}

// add appends a to list unless it is unwanted or already there.
func add(list []ifaddr, iface string, a netip.Addr) []ifaddr {
	iface = clean(iface)
	if !wanted(iface, a) {
		return list
	}
	for _, x := range list {
		if x.iface == iface && x.addr == a {
			return list
		}
	}
	return append(list, ifaddr{iface, a})
}

// fromIPAddr reads `ip -o -4 addr show` as iproute2 and busybox print it:
//
//	2: eth0    inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0\       valid_lft forever ...
//	3: tun0    inet 10.8.0.1 peer 10.8.0.2/32 scope global tun0\ ...
//
// The second field is the device (the trailing label may be an alias such
// as eth0:1, which is not an interface).
func fromIPAddr(lines []string) []ifaddr {
	var out []ifaddr
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		iface, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		for i := 2; i+1 < len(f); i++ {
			if f[i] != "inet" {
				continue
			}
			s, _, _ := strings.Cut(f[i+1], "/")
			if a, err := netip.ParseAddr(s); err == nil {
				out = add(out, iface, a)
			}
			break
		}
	}
	return out
}

// route is one line of /proc/net/route, in network byte order.
type route struct {
	iface     string
	dst, mask uint32
	gateway   bool
}

// rtfGateway is RTF_GATEWAY in /proc/net/route's Flags column.
const rtfGateway = 0x2

// fromKernel finds the IPv4 addresses without iproute2. fib_trie lists the
// host's own addresses ("/32 host LOCAL" leaves) but not their interfaces;
// /proc/net/route names the interface of each connected route, so an
// address belongs to the interface whose directly connected route (no
// gateway, longest prefix) contains it. An address no such route covers (a
// /32 on a dummy interface, a noprefixroute address) goes to the host's
// only interface if it has one, and is otherwise left out. Interfaces come
// in ifindex order, as ip prints them.
func fromKernel(fib, routeLines, ifindex []string, bigEndian bool) []ifaddr {
	locals := fibLocals(fib)
	routes := parseRoutes(routeLines, bigEndian)
	// On a host with one interface (besides lo) every address is its own,
	// even one no connected route covers (cloud images that put a /32 on
	// the NIC and reach the gateway through a host route).
	only := ""
	for _, r := range routes {
		if r.iface == "lo" {
			continue
		}
		if only != "" && only != r.iface {
			only = ""
			break
		}
		only = r.iface
	}
	var out []ifaddr
	for _, a := range locals {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		best, bestLen := "", -1
		for _, r := range routes {
			ones := bits.OnesCount32(r.mask)
			if r.gateway || r.mask == 0 || r.mask != ^(^uint32(0)>>ones) || v&r.mask != r.dst {
				continue
			}
			if ones > bestLen {
				best, bestLen = r.iface, ones
			}
		}
		if best == "" {
			best = only
		}
		out = add(out, best, a)
	}
	index := map[string]int{}
	for _, line := range ifindex {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.Atoi(f[1]); err == nil {
			index[f[0]] = n
		}
	}
	// Interfaces without a known index go last, by name; addresses keep
	// fib_trie's (numeric) order within an interface.
	sort.SliceStable(out, func(i, j int) bool {
		ni, iok := index[out[i].iface]
		nj, jok := index[out[j].iface]
		switch {
		case iok && jok && ni != nj:
			return ni < nj
		case iok != jok:
			return iok
		}
		return out[i].iface < out[j].iface
	})
	return out
}

// fibLocals returns the addresses /proc/net/fib_trie marks as local:
//
//	|-- 172.17.0.2
//	   /32 host LOCAL
//
// The same leaf appears under both the Main and Local tables; each
// address is returned once.
func fibLocals(lines []string) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	var leaf netip.Addr
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "|--":
			a, err := netip.ParseAddr(f[1])
			if err != nil || !a.Is4() {
				a = netip.Addr{}
			}
			leaf = a
		case len(f) >= 1 && f[0] == "+--":
			leaf = netip.Addr{}
		case len(f) >= 3 && f[0] == "/32" && f[1] == "host" && f[2] == "LOCAL":
			if leaf.IsValid() && !seen[leaf] {
				seen[leaf] = true
				out = append(out, leaf)
			}
		}
	}
	return out
}

// parseRoutes reads /proc/net/route. The kernel prints each address as
// the %08X of its 4 network-order bytes loaded as a native integer, so on
// a little-endian host "0100A8C0" is 192.168.0.1.
func parseRoutes(lines []string, bigEndian bool) []route {
	var out []route
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] == "Iface" {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		flags, err2 := strconv.ParseUint(f[3], 16, 32)
		mask, err3 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		r := route{iface: f[0], dst: uint32(dst), mask: uint32(mask), gateway: flags&rtfGateway != 0}
		if !bigEndian {
			r.dst, r.mask = bits.ReverseBytes32(r.dst), bits.ReverseBytes32(r.mask)
		}
		out = append(out, r)
	}
	return out
}

// bigEndian reports whether uname -m names a big-endian machine, which
// prints /proc/net/route's addresses in network order.
func bigEndian(arch string) bool {
	switch arch {
	case "s390", "s390x", "ppc", "ppc64", "mips", "mips64", "sparc", "sparc64", "m68k", "parisc", "parisc64", "armeb", "aarch64_be":
		return true
	}
	return false
}

// privateIP picks the address other hosts of a stack most likely reach
// this one on: the first RFC 1918 address, else the first other one that
// is not link-local (169.254/16 is never routed), else a link-local one.
// Addresses of bridges that container and VM managers create on every
// host (docker0 is 172.17.0.1 everywhere) come after all the others: they
// are private but no other host can reach them, so a VPS with a public
// eth0 and Docker must offer the public address.
func privateIP(list []ifaddr) string {
	for _, local := range []bool{false, true} {
		for _, pass := range []func(netip.Addr) bool{
			netip.Addr.IsPrivate,
			func(a netip.Addr) bool { return !a.IsLinkLocalUnicast() },
			func(netip.Addr) bool { return true },
		} {
			for _, x := range list {
				if hostLocalBridge(x.iface) == local && pass(x.addr) {
					return x.addr.String()
				}
			}
		}
	}
	return ""
}

// hostLocalBridge reports whether iface is one that Docker, podman, LXC,
// libvirt or a Kubernetes network plugin made for guests on this host.
func hostLocalBridge(iface string) bool {
	if iface == "docker0" {
		return true
	}
	for _, p := range []string{"br-", "veth", "virbr", "cni", "podman", "lxcbr", "lxdbr", "flannel", "cali", "kube-", "cilium_", "vxlan.calico"} {
		if strings.HasPrefix(iface, p) {
			return true
		}
	}
	return false
}
