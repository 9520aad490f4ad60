package run

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/engine/transport/local"
	"github.com/opsrun/opsrun/inventory"
	rdsinv "github.com/opsrun/opsrun/inventory/rds"
	builtin "github.com/opsrun/opsrun/modules/registry"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

const shopEndpoint = "shop-db.abc123.us-east-1.rds.amazonaws.com"

// rdsEnv points the SDK's standard configuration at a local endpoint
// whose RDS has dbs, as testenv's aws.env does.
func rdsEnv(t *testing.T, dbs ...awsapi.DBInstance) {
	t.Helper()
	srv := awsapi.New(nil)
	srv.AddDBInstance(dbs...)
	awsapi.Serve(t, srv)
}

func shopDB() awsapi.DBInstance {
	return awsapi.DBInstance{Identifier: "shop-db", Engine: "postgres", EngineVersion: "16.3", DBName: "shop",
		MasterUsername: "shopadmin", Address: shopEndpoint, Port: 5432, AvailabilityZone: "us-east-1b"}
}

// rdsStack is a DB layer that is an RDS instance and an app layer whose
// configure writes where the database is, as the example.
const rdsStack = `
stack "shop" {
  become = false
}
variable "dir" {
  type = string
}
layer "db" {
  rds {
    identifier = "shop-db"
  }
}
layer "app" {
  on "configure" {
    file "db" {
      path    = "${var.dir}/${host.name}.env"
      content = "DB_HOST=${layer.db.instances[0].address}\nDB_PORT=${layer.db.instances[0].vars.port}\nENGINE=${layer.db.instances[0].vars.engine}\nNAME=${layer.db.instances[0].name} (${length(layer.db.instances)})\n"
    }
  }
}
host "app1" {
  layers = ["app"]
}
host "app2" {
  layers = ["app"]
}
`

// guardDialer is the local transport, failing the test if it is ever
// asked about the DB instance, by name or by address.
type guardDialer struct {
	t *testing.T
	local.Dialer
	mu     sync.Mutex
	dialed []string
}

func (d *guardDialer) refuse(h *inventory.Host) bool {
	if h.Name == "shop-db" || h.Addr() == shopEndpoint || h.InLayer("db") {
		d.t.Errorf("opsrun tried to reach the RDS instance as a host: %+v", h)
		return true
	}
	return false
}

func (d *guardDialer) Check(h *inventory.Host) error {
	if d.refuse(h) {
		return errors.New("the RDS instance is not a host")
	}
	return d.Dialer.Check(h)
}

func (d *guardDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if d.refuse(h) {
		return nil, errors.New("the RDS instance is not a host")
	}
	d.mu.Lock()
	d.dialed = append(d.dialed, h.Name)
	d.mu.Unlock()
	return d.Dialer.Dial(ctx, h)
}

func loadRDSStack(t *testing.T, src, dir string) (*stack.Stack, []*inventory.Host) {
	t.Helper()
	s, diags := stack.Load(fstest.MapFS{"main.hcl": &fstest.MapFile{Data: []byte(src)}}, "/stacks/shop", stack.Inputs{Vars: []string{"dir=" + dir}}, builtin.Builtin())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if ds := s.Validate(); ds.HasErrors() {
		t.Fatalf("validate: %v", ds)
	}
	hosts, diags := Hosts(s, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return s, hosts
}

func TestRDSLayerFeedsConfigureAndIsNeverDialed(t *testing.T) {
	rdsEnv(t, shopDB())
	dir := t.TempDir()
	s, hosts := loadRDSStack(t, rdsStack, dir)
	found, err := ResolveRDS(context.Background(), s, hosts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Layer != "db" || found[0].Address != shopEndpoint || found[0].Port != 5432 {
		t.Fatalf("resolved %+v", found)
	}
	targets, err := Targets(s, hosts, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 || targets[0].Name != "app1" || targets[1].Name != "app2" {
		t.Fatalf("targets = %+v, want only the app hosts", targets)
	}

	d := &guardDialer{t: t}
	res, err := Run(context.Background(), Input{Stack: s, Registry: builtin.Builtin(), Dialer: d, Hosts: hosts, Targets: targets}, Options{Event: "configure", RunID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Totals.Changed != 2 || res.Totals.Failed != 0 || res.Totals.Unreachable != 0 {
		t.Fatalf("totals %+v, want the file changed on both app hosts", res.Totals)
	}
	want := "DB_HOST=" + shopEndpoint + "\nDB_PORT=5432\nENGINE=postgres\nNAME=shop-db (1)\n"
	for _, h := range []string{"app1", "app2"} {
		b, err := os.ReadFile(filepath.Join(dir, h+".env"))
		if err != nil || string(b) != want {
			t.Errorf("%s.env = %q (%v), want %q", h, b, err, want)
		}
	}
	slices.Sort(d.dialed)
	if !slices.Equal(slices.Compact(d.dialed), []string{"app1", "app2"}) {
		t.Errorf("dialed %v, want only the app hosts", d.dialed)
	}
}

func TestResolveRDSMissingInstance(t *testing.T) {
	rdsEnv(t) // an RDS with no DB instance
	s, hosts := loadRDSStack(t, rdsStack, t.TempDir())
	_, err := ResolveRDS(context.Background(), s, hosts, nil)
	if !errors.Is(err, rdsinv.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	want := `/stacks/shop/main.hcl:9: layer "db": rds "shop-db": no such RDS DB instance in region us-east-1`
	if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %q, want one line starting %q", err, want)
	}
	if s.External != nil {
		t.Errorf("a failed resolution left instances behind: %v", s.External)
	}
}

func TestResolveRDSRefusesHostsInTheLayer(t *testing.T) {
	// The endpoint has the instance: the error must come from the check
	// made before asking RDS. A declared host is refused by Hosts, with
	// the stack's other mistakes (opsrun validate shows it).
	rdsEnv(t, shopDB())
	src := strings.Replace(rdsStack, `host "app2" {
  layers = ["app"]`, `host "app2" {
  layers = ["app", "db"]`, 1)
	s, diags := stack.Load(fstest.MapFS{"main.hcl": &fstest.MapFile{Data: []byte(src)}}, "/stacks/shop", stack.Inputs{Vars: []string{"dir=" + t.TempDir()}}, builtin.Builtin())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, diags = Hosts(s, nil)
	if !diags.HasErrors() || diags[0].Summary != "Host in an RDS layer" || diags[0].Subject == nil || diags[0].Subject.Filename != "/stacks/shop/main.hcl" ||
		!strings.Contains(diags[0].Detail, `host "app2" is in layer "db", which is the RDS DB instance "shop-db" (/stacks/shop/main.hcl:9)`) {
		t.Fatalf("Hosts: %v, want the host named with the rds block", diags)
	}
	// A host found at run time (an EC2 instance tagged with the layer) is
	// refused before any RDS call.
	s, hosts := loadRDSStack(t, rdsStack, t.TempDir())
	hosts = append(hosts, &inventory.Host{Name: "ec2-db", Address: "10.0.0.9", Layers: []string{"db"}})
	_, err := ResolveRDS(context.Background(), s, hosts, nil)
	if err == nil || !strings.Contains(err.Error(), `host "ec2-db" is in layer "db", which is the RDS DB instance "shop-db" (/stacks/shop/main.hcl:9)`) {
		t.Fatalf("err = %v, want the host named with the rds block", err)
	}
}

func TestResolveRDSWithoutRDSLayersAsksNothing(t *testing.T) {
	// No credentials and no region: any AWS call would fail.
	awsapi.Serve(t, awsapi.New(nil))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_REGION", "")
	s, hosts := loadRDSStack(t, header+`
layer "web" {}
host "web1" {
  layers = ["web"]
}
`, t.TempDir())
	found, err := ResolveRDS(context.Background(), s, hosts, nil)
	if err != nil || found != nil || s.External != nil {
		t.Fatalf("ResolveRDS = %v, %v (External %v); want nothing asked, nothing found", found, err, s.External)
	}
}
