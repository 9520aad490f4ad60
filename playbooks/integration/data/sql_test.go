package data

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/playbooks/playtest"
)

// sqlServer is what differs between the SQL database layers in
// testSQLLayer.
type sqlServer struct {
	layer     string // the built-in layer
	clientPkg string // the Debian package of its command-line client
	service   string
	dumpDir   string // the layer's default dump_dir
	// login is a shell command that runs sql on database app at ip as
	// user app with password, printing rows without headers.
	login func(ip, password, sql string) string
	// denied matches what the client prints when the server refuses it.
	denied *regexp.Regexp
	// dumped matches the dump of table t holding the row 42.
	dumped *regexp.Regexp
}

// The passwords hold quotes and a backslash: they go through HCL, SQL
// and shell quoting on the way.
const (
	firstPassword  = `s3cret'pw\x"1`
	secondPassword = `n3w'pw\y"2`
)

// sqlStack is a stack with the database layer (called db, under another
// name than the built-in's), its clients (layer app, the default of the
// clients setting) and a host that is no client, all with the client
// installed.
func sqlStack(srv sqlServer, password string) string {
	return fmt.Sprintf(`
variable "db_password" {
  type      = string
  sensitive = true
  default   = %s
}

recipe "client" {
  package "client" {
    name = %q
  }
}

layer "db" {
  use      = %q
  settings = { password = var.db_password }
}

layer "app" {
  on "setup" {
    include "client" {}
  }
}

layer "other" {
  on "setup" {
    include "client" {}
  }
}
`, hclString(password), srv.clientPkg, srv.layer)
}

// testSQLLayer drives a database layer through the life of a stack: the
// clients' instances log in and nothing else does, a new password
// applies at the next configure, a client that leaves loses its access,
// and shutdown dumps the database. The password never shows.
func testSQLLayer(t *testing.T, srv sqlServer) {
	hosts := pool.Take(t, 4)
	db, app1, app2, other := hosts[0], hosts[1], hosts[2], hosts[3]
	ip := pool.IP(t, db)
	s := pool.NewStack(t, map[string]string{"stack.hcl": sqlStack(srv, firstPassword)},
		map[string][]string{"db": {db}, "app": {app1, app2}, "other": {other}})
	outcomes := []playtest.Outcome{s.Up()}
	s.Converge()

	works := func(host, password string) {
		t.Helper()
		if out := pool.Sh(t, host, srv.login(ip, password, "select 1")); strings.TrimSpace(out) != "1" {
			t.Errorf("%s: select 1 answered %q", host, out)
		}
	}
	refused := func(host, password string) {
		t.Helper()
		if out := fails(t, host, srv.login(ip, password, "select 1")); !srv.denied.MatchString(out) {
			t.Errorf("%s: the server did not refuse the login as expected: %s", host, out)
		}
	}
	works(app1, firstPassword)
	works(app2, firstPassword)
	refused(other, firstPassword)

	// A new password: configure applies it, then changes nothing.
	writeStack(t, s, sqlStack(srv, secondPassword))
	s.Load(map[string][]string{"db": {db}, "app": {app1, app2}, "other": {other}})
	o := s.Run("configure")
	outcomes = append(outcomes, o)
	if o.Totals.Changed == 0 {
		t.Errorf("configure with a new password changed nothing")
	}
	if o := s.Run("configure"); o.Totals.Changed != 0 {
		t.Errorf("configure again changed %d resources: %s", o.Totals.Changed, o.Changed())
	}
	works(app1, secondPassword)
	refused(app1, firstPassword)

	// app2 leaves the stack: its access goes with it.
	s.Load(map[string][]string{"db": {db}, "app": {app1}, "other": {other}})
	outcomes = append(outcomes, s.Up())
	works(app1, secondPassword)
	refused(app2, secondPassword)

	// Shutdown dumps the database, then stops the server.
	pool.Sh(t, app1, srv.login(ip, secondPassword, "create table t (x int); insert into t values (42)"))
	outcomes = append(outcomes, s.Run("shutdown"))
	dump := pool.Sh(t, db, "ls "+srv.dumpDir+"/app-*.sql.gz && zcat "+srv.dumpDir+"/app-*.sql.gz")
	if !srv.dumped.MatchString(dump) {
		t.Errorf("the dump has no table t with 42 in it:\n%s", dump)
	}
	if out := fails(t, db, "systemctl is-active "+srv.service); !strings.Contains(out, "inactive") {
		t.Errorf("%s after shutdown: %s", srv.service, out)
	}

	noSecret(t, outcomes, firstPassword, secondPassword)
}
