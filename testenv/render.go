package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Names of the files Up writes into the fleet directory. Down removes
// exactly these, never the directory's other contents.
const (
	InventoryFile  = "inventory.hcl"
	SSHConfigFile  = "ssh_config"
	KnownHostsFile = "known_hosts"
	KeyFile        = "id_ed25519"
	PubKeyFile     = "id_ed25519.pub"
	FleetFile      = "fleet.json"
	// LockFile serializes the rewrites of the other files once the fleet
	// is up (see Fleet.Launch).
	LockFile = "fleet.lock"
)

// fleetFiles is every file Up may write, in the order Down removes them.
var fleetFiles = []string{InventoryFile, SSHConfigFile, KnownHostsFile, KeyFile, PubKeyFile, FleetFile, LockFile}

// fleetFile is one file rendered from a fleet's description.
type fleetFile struct {
	name string
	data []byte
}

// renderFleetFiles renders every file that follows from f's hosts, in the
// order they are written: known_hosts before the files that send clients
// to a host, fleet.json last.
func renderFleetFiles(f *Fleet) ([]fleetFile, error) {
	known, err := renderKnownHosts(f)
	if err != nil {
		return nil, err
	}
	sshConfig, err := renderSSHConfig(f)
	if err != nil {
		return nil, err
	}
	state, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return []fleetFile{
		{KnownHostsFile, known},
		{SSHConfigFile, sshConfig},
		{InventoryFile, renderInventory(f)},
		{FleetFile, append(state, '\n')},
	}, nil
}

// loginUser is the user the inventory and ssh_config log in as.
const loginUser = "opsrun"

func header(name string) string {
	return fmt.Sprintf("# Written by opsrun testenv for fleet %q; removed by `opsrun testenv down --name %s`.\n", name, name)
}

// renderInventory writes the static inventory opsrun reads. Paths are
// relative to the file, so the directory can be moved or mounted elsewhere.
func renderInventory(f *Fleet) []byte {
	file := hclwrite.NewEmptyFile()
	body := file.Body()
	body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(header(f.Name))}})
	defaults := body.AppendNewBlock("defaults", nil).Body()
	defaults.SetAttributeValue("user", cty.StringVal(loginUser))
	defaults.SetAttributeValue("identity_file", cty.StringVal(KeyFile))
	defaults.SetAttributeValue("known_hosts", cty.StringVal(KnownHostsFile))
	defaults.SetAttributeValue("host_key_checking", cty.StringVal("strict"))
	if f.Bastion != nil {
		defaults.SetAttributeValue("proxy_jump", cty.StringVal(fmt.Sprintf("%s@%s", loginUser, hostPort(f.Bastion.Address, f.Bastion.Port))))
	}
	for _, h := range f.Hosts {
		body.AppendNewline()
		hb := body.AppendNewBlock("host", []string{h.Name}).Body()
		hb.SetAttributeValue("address", cty.StringVal(h.Address))
		hb.SetAttributeValue("port", cty.NumberIntVal(int64(h.Port)))
		layers := cty.ListValEmpty(cty.String)
		if len(h.Layers) > 0 {
			vals := make([]cty.Value, len(h.Layers))
			for i, l := range h.Layers {
				vals[i] = cty.StringVal(l)
			}
			layers = cty.ListVal(vals)
		}
		hb.SetAttributeValue("layers", layers)
	}
	return hclwrite.Format(file.Bytes())
}

// renderSSHConfig writes a config for the OpenSSH client (ssh -F FILE HOST).
// Paths are absolute because ssh resolves relative ones against ~/.ssh.
func renderSSHConfig(f *Fleet) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header(f.Name))
	fmt.Fprintf(&b, "# Use: ssh -F %s HOST\n", f.SSHConfigPath)
	key, err := sshConfigPath(f.KeyPath)
	if err != nil {
		return nil, err
	}
	known, err := sshConfigPath(f.KnownHostsPath)
	if err != nil {
		return nil, err
	}
	entry := func(h Host, jump bool) {
		fmt.Fprintf(&b, "\nHost %s\n", h.Name)
		fmt.Fprintf(&b, "  HostName %s\n", h.Address)
		fmt.Fprintf(&b, "  Port %d\n", h.Port)
		fmt.Fprintf(&b, "  User %s\n", loginUser)
		fmt.Fprintf(&b, "  IdentityFile %s\n", key)
		b.WriteString("  IdentitiesOnly yes\n")
		fmt.Fprintf(&b, "  UserKnownHostsFile %s\n", known)
		// The fleet's known_hosts is the whole truth; a global file could
		// only add stale entries for recycled 127.0.0.1 ports.
		b.WriteString("  GlobalKnownHostsFile /dev/null\n")
		b.WriteString("  StrictHostKeyChecking yes\n")
		if jump {
			fmt.Fprintf(&b, "  ProxyJump %s\n", BastionName)
		}
		b.WriteString("  BatchMode yes\n")
		b.WriteString("  LogLevel ERROR\n")
	}
	if f.Bastion != nil {
		entry(*f.Bastion, false)
	}
	for _, h := range f.Hosts {
		entry(h, f.Bastion != nil)
	}
	return b.Bytes(), nil
}

// sshConfigPath quotes a path for ssh_config, where a space splits
// arguments and % starts a token (IdentityFile and UserKnownHostsFile both
// expand tokens). A double quote cannot be expressed at all.
func sshConfigPath(p string) (string, error) {
	if strings.ContainsAny(p, "\"\n") {
		return "", fmt.Errorf("path %q cannot be written into an ssh_config: move the fleet directory", p)
	}
	p = strings.ReplaceAll(p, "%", "%%")
	if strings.ContainsAny(p, " \t#'\\") {
		return `"` + p + `"`, nil
	}
	return p, nil
}

// renderKnownHosts lists every host key under the address clients dial:
// [127.0.0.1]:PORT for published ports, the fleet-network IP for hosts
// behind the bastion (port 22, so without brackets).
func renderKnownHosts(f *Fleet) ([]byte, error) {
	var b bytes.Buffer
	all := f.Hosts
	if f.Bastion != nil {
		all = append([]Host{*f.Bastion}, f.Hosts...)
	}
	for _, h := range all {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
		if err != nil {
			return nil, fmt.Errorf("host %s: host key: %w", h.Name, err)
		}
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(hostPort(h.Address, h.Port))}, pub))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func hostPort(addr string, port int) string {
	return net.JoinHostPort(addr, strconv.Itoa(port))
}
