package data

import (
	"regexp"
	"testing"
)

// TestPostgreSQL: pg_hba lets exactly the app layer's instances in, the
// role follows the password, a leaver is refused, and shutdown dumps.
func TestPostgreSQL(t *testing.T) {
	t.Parallel()
	testSQLLayer(t, sqlServer{
		layer:     "postgresql",
		clientPkg: "postgresql-client",
		service:   "postgresql",
		dumpDir:   "/var/backups/postgresql",
		login: func(ip, password, sql string) string {
			return "PGPASSWORD=" + shq(password) + " PGCONNECT_TIMEOUT=10 psql -X -w -q -tA -v ON_ERROR_STOP=1 -h " + ip + " -U app -d app -c " + shq(sql)
		},
		denied: regexp.MustCompile(`no pg_hba.conf entry|password authentication failed`),
		dumped: regexp.MustCompile(`COPY public\.t \(x\) FROM stdin;\n42\n`),
	})
}
