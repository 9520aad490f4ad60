package testenv

import (
	"archive/tar"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsimple"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testFleet is a fleet as Up would describe it, without containers.
func testFleet(t *testing.T, dir string, bastion bool) (*Fleet, map[string]keyPair) {
	t.Helper()
	keys := map[string]keyPair{}
	mk := func(name, addr string, port int, ip string, layers ...string) Host {
		k, err := newKeyPair("root@" + name)
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = k
		if layers == nil {
			layers = []string{}
		}
		return Host{Name: name, Container: "opsrun-demo-" + name, Address: addr, Port: port, InternalIP: ip,
			Layers: layers, HostKey: strings.TrimSpace(string(k.AuthorizedKey()))}
	}
	f := &Fleet{Name: "demo", Dir: dir, Init: InitSystemd,
		InventoryPath:  filepath.Join(dir, InventoryFile),
		SSHConfigPath:  filepath.Join(dir, SSHConfigFile),
		KnownHostsPath: filepath.Join(dir, KnownHostsFile),
		KeyPath:        filepath.Join(dir, KeyFile),
	}
	if bastion {
		b := mk("bastion", "127.0.0.1", 32769, "172.20.0.2")
		f.Bastion = &b
		f.Hosts = []Host{mk("web-1", "172.20.0.3", 22, "172.20.0.3", "web"), mk("host-1", "172.20.0.4", 22, "172.20.0.4")}
	} else {
		f.Hosts = []Host{mk("web-1", "127.0.0.1", 32770, "172.20.0.3", "web"), mk("host-1", "127.0.0.1", 32771, "172.20.0.4")}
	}
	return f, keys
}

func TestRenderInventory(t *testing.T) {
	f, _ := testFleet(t, "/x", false)
	want := "# Written by opsrun testenv for fleet \"demo\"; removed by `opsrun testenv down --name demo`.\n" + `defaults {
  user              = "opsrun"
  identity_file     = "id_ed25519"
  known_hosts       = "known_hosts"
  host_key_checking = "strict"
}

host "web-1" {
  address = "127.0.0.1"
  port    = 32770
  layers  = ["web"]
}

host "host-1" {
  address = "127.0.0.1"
  port    = 32771
  layers  = []
}
`
	if got := string(renderInventory(f)); got != want {
		t.Errorf("inventory.hcl:\n%s\nwant:\n%s", got, want)
	}

	f, _ = testFleet(t, "/x", true)
	got := string(renderInventory(f))
	if !strings.Contains(got, "  proxy_jump        = \"opsrun@127.0.0.1:32769\"\n}\n") ||
		!strings.Contains(got, "host \"web-1\" {\n  address = \"172.20.0.3\"\n  port    = 22\n") ||
		strings.Contains(got, `"bastion"`) {
		t.Errorf("bastion inventory.hcl:\n%s", got)
	}
}

// TestInventoryDecodes checks the file is HCL the inventory package can
// read with a plain schema (the real parser lives in inventory/).
func TestInventoryDecodes(t *testing.T) {
	f, _ := testFleet(t, "/x", true)
	var cfg struct {
		Defaults struct {
			User            string   `hcl:"user"`
			IdentityFile    string   `hcl:"identity_file"`
			KnownHosts      string   `hcl:"known_hosts"`
			HostKeyChecking string   `hcl:"host_key_checking"`
			ProxyJump       string   `hcl:"proxy_jump,optional"`
			Rest            hcl.Body `hcl:",remain"`
		} `hcl:"defaults,block"`
		Hosts []struct {
			Name    string   `hcl:"name,label"`
			Address string   `hcl:"address"`
			Port    int      `hcl:"port"`
			Layers  []string `hcl:"layers"`
		} `hcl:"host,block"`
	}
	if err := hclsimple.Decode("inventory.hcl", renderInventory(f), nil, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Defaults.ProxyJump != "opsrun@127.0.0.1:32769" || len(cfg.Hosts) != 2 || cfg.Hosts[1].Name != "host-1" ||
		cfg.Hosts[1].Layers == nil || len(cfg.Hosts[1].Layers) != 0 || cfg.Hosts[0].Port != 22 {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestRenderSSHConfig(t *testing.T) {
	f, _ := testFleet(t, "/fleet dir/100%", true)
	data, err := renderSSHConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	for _, want := range []string{
		"\nHost bastion\n  HostName 127.0.0.1\n  Port 32769\n  User opsrun\n",
		"  IdentityFile \"/fleet dir/100%%/id_ed25519\"\n  IdentitiesOnly yes\n",
		"  UserKnownHostsFile \"/fleet dir/100%%/known_hosts\"\n",
		"\nHost web-1\n  HostName 172.20.0.3\n  Port 22\n",
		"  StrictHostKeyChecking yes\n  ProxyJump bastion\n  BatchMode yes\n  LogLevel ERROR\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ssh_config lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "ProxyJump") != 2 {
		t.Errorf("want ProxyJump on the 2 hosts behind the bastion only:\n%s", got)
	}
	f.KeyPath = `/a"b/id_ed25519`
	if _, err := renderSSHConfig(f); err == nil {
		t.Error("a path with a double quote was accepted")
	}
}

// TestSSHConfigParsesWithOpenSSH asks the real client how it reads the file.
func TestSSHConfigParsesWithOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("OpenSSH client not installed")
	}
	dir := filepath.Join(t.TempDir(), "my fleet")
	f, _ := testFleet(t, dir, true)
	data, err := renderSSHConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o700)
	os.WriteFile(f.SSHConfigPath, data, 0o600)
	out, err := exec.Command("ssh", "-G", "-F", f.SSHConfigPath, "web-1").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -G: %v: %s", err, out)
	}
	for _, want := range []string{"hostname 172.20.0.3", "port 22", "user opsrun", "proxyjump bastion",
		"stricthostkeychecking true", "batchmode yes", "identityfile " + filepath.Join(dir, KeyFile),
		"userknownhostsfile " + filepath.Join(dir, KnownHostsFile)} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("ssh -G lacks %q", want)
		}
	}
}

func TestRenderKnownHosts(t *testing.T) {
	f, keys := testFleet(t, "/x", true)
	data, err := renderKnownHosts(f)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(path, data, 0o644)
	cb, err := knownhosts.New(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(host string, addr string, key ssh.PublicKey) error {
		tcp, _ := net.ResolveTCPAddr("tcp", addr)
		return cb(addr, tcp, key)
	}
	if err := check("bastion", "127.0.0.1:32769", keys["bastion"].Public); err != nil {
		t.Errorf("bastion key: %v", err)
	}
	if err := check("web-1", "172.20.0.3:22", keys["web-1"].Public); err != nil {
		t.Errorf("web-1 key: %v", err)
	}
	if err := check("web-1", "172.20.0.3:22", keys["host-1"].Public); err == nil {
		t.Error("web-1 accepted host-1's key")
	}
	if !strings.Contains(string(data), "\n172.20.0.3 ssh-ed25519 ") || !strings.HasPrefix(string(data), "[127.0.0.1]:32769 ssh-ed25519 ") {
		t.Errorf("known_hosts:\n%s", data)
	}
}

func TestBuildTar(t *testing.T) {
	host, _ := newKeyPair("h")
	client, _ := newKeyPair("c")
	data, err := buildTar(hostFiles(host, client))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	got := map[string]int64{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: type %c uid %d gid %d", hdr.Name, hdr.Typeflag, hdr.Uid, hdr.Gid)
		}
		body, _ := io.ReadAll(tr)
		if int64(len(body)) != hdr.Size {
			t.Errorf("%s: short body", hdr.Name)
		}
		if hdr.Name == "etc/ssh/opsrun/ssh_host_ed25519_key" {
			if _, err := ssh.ParsePrivateKey(body); err != nil {
				t.Errorf("host key does not parse: %v", err)
			}
		}
		if hdr.Name == "etc/ssh/opsrun/authorized_keys" && !bytes.Equal(body, client.AuthorizedKey()) {
			t.Errorf("authorized_keys = %q", body)
		}
		got[hdr.Name] = hdr.Mode
	}
	want := map[string]int64{
		"etc/ssh/opsrun/ssh_host_ed25519_key":     0o600,
		"etc/ssh/opsrun/ssh_host_ed25519_key.pub": 0o644,
		"etc/ssh/opsrun/authorized_keys":          0o644,
	}
	if len(got) != len(want) {
		t.Errorf("entries %v; want %v", got, want)
	}
	for n, m := range want {
		if got[n] != m {
			t.Errorf("%s mode %o; want %o", n, got[n], m)
		}
	}
	if _, err := buildTar([]tarFile{{Path: "relative", Data: nil}}); err == nil {
		t.Error("relative path accepted")
	}
}

func TestListensOn(t *testing.T) {
	const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0B00007F:8CA1 00000000:0000 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
`
	if !listensOn(tcp, 22) {
		t.Error("port 22 listener not found")
	}
	if listensOn(tcp, 0x8CA1) {
		t.Error("an established socket counted as listening")
	}
	if listensOn("", 22) {
		t.Error("empty table listens")
	}
}
