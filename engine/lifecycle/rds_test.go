package lifecycle

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/transport"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

const rdsEndpoint = "shop-db.abc123.us-east-1.rds.amazonaws.com"

// rdsStackHCL has a DB layer that is an RDS instance, read by the app
// layer's configure.
const rdsStackHCL = `
stack "t" {
  become = false
}

layer "db" {
  rds {
    identifier = "shop-db"
  }
}

layer "app" {
  on "setup" {
    command "srv" {
      command = "mkdir -p BASE/srv"
    }
  }
  on "configure" {
    file "db" {
      path    = "BASE/srv/db.env"
      content = "${layer.db.instances[0].address}:${layer.db.instances[0].vars.port} ${layer.db.instances[0].vars.engine}"
    }
  }
}
`

// noRDSDialer is the fleet's dialer, failing the test if it is asked to
// reach the DB instance.
type noRDSDialer struct {
	hostDialer
	t *testing.T
}

func (d noRDSDialer) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	if h.Name == "shop-db" || h.Addr() == rdsEndpoint || h.InLayer("db") {
		d.t.Errorf("the RDS instance was dialed: %+v", h)
		return nil, errors.New("the RDS instance is not a host")
	}
	return d.hostDialer.Dial(ctx, h)
}

// The phases of an operation run on stacks derived from the real one:
// they must still see the RDS instance, and it must never become a member.
func TestUpConfiguresAgainstRDSWithoutMakingItAMember(t *testing.T) {
	srv := awsapi.New(nil)
	srv.AddDBInstance(awsapi.DBInstance{Identifier: "shop-db", Engine: "mysql", EngineVersion: "8.0.39", Address: rdsEndpoint, Port: 3306})
	awsapi.Serve(t, srv)
	f := newFleetWith(t, rdsStackHCL)
	hs := hosts("a1:app", "a2:app")
	if _, err := run.ResolveRDS(context.Background(), f.stack, hs, nil); err != nil {
		t.Fatal(err)
	}
	in := f.input(hs)
	in.Dialer = noRDSDialer{hostDialer: hostDialer{base: f.base}, t: t}
	if _, err := Up(context.Background(), in, f.options(false)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a1", "a2"} {
		if got := f.read(h, "db.env"); got != rdsEndpoint+":3306 mysql" {
			t.Errorf("%s: db.env = %q", h, got)
		}
	}
	ms, err := f.store.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"a1", "a2"}) {
		t.Errorf("members %v, want the app hosts only", names)
	}
}
