package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/testenv"
)

func testenvTestIO() (IO, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

func TestTestenvUpFlags(t *testing.T) {
	streams, _, _ := testenvTestIO()
	f := &Factory{IO: streams}
	var got *TestenvUpOptions
	cmd := NewCmdTestenvUp(f, func(o *TestenvUpOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--name", "demo", "--layers", "web:2,db:1", "--hosts", "3", "--bastion", "--init", "sshd", "--dir", "/tmp/x"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := []testenv.LayerCount{{Layer: "web", Count: 2}, {Layer: "db", Count: 1}}
	if got.Name != "demo" || !reflect.DeepEqual(got.Layers, want) || got.Hosts != 3 || !got.Bastion ||
		got.Init != "sshd" || got.Dir != "/tmp/x" {
		t.Errorf("options = %+v", got)
	}

	cmd = NewCmdTestenvUp(f, func(o *TestenvUpOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--name", "dev", "--hosts", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Init != "systemd" || got.Dir != filepath.Join(".opsrun", "testenv", "dev") || got.Bastion || got.Layers != nil {
		t.Errorf("defaults = %+v", got)
	}
}

func TestTestenvDownFlags(t *testing.T) {
	streams, _, _ := testenvTestIO()
	var got *TestenvDownOptions
	cmd := NewCmdTestenvDown(&Factory{IO: streams}, func(o *TestenvDownOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--name", "demo", "--dir", "d"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Name != "demo" || got.Dir != "d" {
		t.Errorf("options = %+v", got)
	}
}

func TestTestenvFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--hosts", "2"}, "needs a fleet name: --name NAME"},
		{[]string{"up", "--name", "Demo", "--hosts", "2"}, `fleet name "Demo" is not valid`},
		{[]string{"up", "--name", "demo"}, "needs hosts: --hosts N or --layers"},
		{[]string{"up", "--name", "demo", "--hosts", "-1"}, "--hosts must not be negative"},
		{[]string{"up", "--name", "demo", "--layers", "web:x"}, `--layers: layer "web": count "x" is not a positive number`},
		{[]string{"up", "--name", "demo", "--layers", "web:1,web:1"}, `layer "web" is given twice`},
		{[]string{"up", "--name", "demo", "--hosts", "1", "--init", "openrc"}, "--init must be systemd or sshd"},
		{[]string{"up", "--name", "demo", "--hosts", "1", "extra"}, "unknown command"},
		{[]string{"down"}, "testenv down needs the fleet: --name NAME"},
		{[]string{"down", "--name", "a b"}, "is not valid"},
	} {
		streams, _, errOut := testenvTestIO()
		code := Main(append([]string{"testenv"}, tc.args...), streams)
		msg := errOut.String()
		if code != ExitError || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line with %q", tc.args, code, msg, tc.want)
		}
	}
}

func TestTestenvPrintFleet(t *testing.T) {
	fleet := &testenv.Fleet{
		Name:    "demo",
		Bastion: &testenv.Host{Name: "bastion", Address: "127.0.0.1", Port: 32769},
		Hosts: []testenv.Host{
			{Name: "web-1", Address: "172.20.0.3", Port: 22, Layers: []string{"web"}},
			{Name: "host-1", Address: "172.20.0.4", Port: 22, Layers: []string{}},
		},
	}
	var out bytes.Buffer
	testenvPrintFleet(&out, fleet, "my dir", 2100*time.Millisecond)
	for _, want := range []string{
		"Fleet \"demo\" is up: 2 hosts in 2.1s.\n",
		"  bastion  127.0.0.1:32769  (jump host)\n",
		"  web-1    172.20.0.3:22    web\n",
		"  host-1   172.20.0.4:22    -\n",
		"Files in my dir:\n",
		"  opsrun exec -i 'my dir/inventory.hcl' -- hostname\n",
		"  ssh -F 'my dir/ssh_config' web-1\n",
		"  opsrun testenv down --name demo --dir 'my dir'\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	testenvPrintFleet(&out, fleet, testenv.DefaultDir("demo"), time.Second)
	if !strings.Contains(out.String(), "  opsrun testenv down --name demo\n") {
		t.Errorf("default dir: want a down command without --dir:\n%s", out.String())
	}
}

// TestTestenvCommands runs up, status and down through Main on one light
// host.
func TestTestenvCommands(t *testing.T) {
	required := os.Getenv(testenv.RequireDockerEnv) == "1"
	if testing.Short() && !required {
		t.Skip("starts Docker containers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := testenv.EnsureImage(ctx, nil); err != nil {
		if errors.Is(err, testenv.ErrUnavailable) && !required {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	var b [4]byte
	rand.Read(b[:])
	name := "t-cli-" + hex.EncodeToString(b[:])
	dir := filepath.Join(t.TempDir(), "fleet")
	t.Cleanup(func() { testenv.Down(context.Background(), name, dir) })

	streams, out, errOut := testenvTestIO()
	if code := Main([]string{"testenv", "up", "--name", name, "--hosts", "2", "--init", "sshd", "--dir", dir}, streams); code != ExitOK {
		t.Fatalf("up: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out.String(), "  host-2  127.0.0.1:") {
		t.Errorf("up output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, testenv.InventoryFile)); err != nil {
		t.Error(err)
	}

	streams, out, errOut = testenvTestIO()
	if code := Main([]string{"testenv", "up", "--name", name, "--hosts", "1", "--init", "sshd", "--dir", t.TempDir()}, streams); code != ExitError ||
		!strings.Contains(errOut.String(), "already exists") || !strings.Contains(errOut.String(), "opsrun testenv down --name "+name) {
		t.Errorf("second up with the same name: exit %d, stderr %q", code, errOut)
	}

	streams, out, _ = testenvTestIO()
	if code := Main([]string{"testenv", "status"}, streams); code != ExitOK || !testenvHasLine(out.String(), name, "2/2", dir) {
		t.Errorf("status: exit %d\n%s", code, out)
	}

	streams, out, errOut = testenvTestIO()
	if code := Main([]string{"testenv", "down", "--name", name}, streams); code != ExitOK {
		t.Fatalf("down: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("down left the fleet directory: %v", err)
	}
	streams, out, _ = testenvTestIO()
	Main([]string{"testenv", "status"}, streams)
	if strings.Contains(out.String(), name) {
		t.Errorf("status after down still lists %s:\n%s", name, out)
	}
}

// testenvHasLine reports whether some line of s consists of the given fields.
func testenvHasLine(s string, fields ...string) bool {
	for _, line := range strings.Split(s, "\n") {
		if reflect.DeepEqual(strings.Fields(line), fields) {
			return true
		}
	}
	return false
}
