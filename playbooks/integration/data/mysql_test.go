package data

import (
	"regexp"
	"testing"
)

// TestMySQL: MariaDB grants exactly the app layer's instances, follows the
// password and the membership, and dumps at shutdown.
func TestMySQL(t *testing.T) {
	t.Parallel()
	testSQLLayer(t, sqlServer{
		layer:     "mysql",
		clientPkg: "mariadb-client",
		service:   "mariadb",
		dumpDir:   "/var/backups/mysql",
		login: func(ip, password, sql string) string {
			return "mysql --connect-timeout=10 -N -B -h " + ip + " -u app -p" + shq(password) + " app -e " + shq(sql)
		},
		denied: regexp.MustCompile(`is not allowed to connect|Access denied`),
		dumped: regexp.MustCompile("INSERT INTO `t` VALUES\\s*\\(42\\)"),
	})
}
