package facts

import "testing"

// TestProbeCommands pins the exact probe commands, quoting included: they
// are what runs as root on every host, so any change must be deliberate.
func TestProbeCommands(t *testing.T) {
	for _, c := range []struct {
		got  string
		want string
	}{
		{StatProbe("/etc/motd").Command,
			"if [ -e /etc/motd ] || [ -h /etc/motd ]; then LC_ALL=C stat -c '%F\t%a\t%U\t%G\t%s\t%u\t%g' /etc/motd; else echo absent; fi"},
		{StatProbe("/srv/it's here").Command,
			`if [ -e '/srv/it'"'"'s here' ] || [ -h '/srv/it'"'"'s here' ]; then LC_ALL=C stat -c '%F` + "\t%a\t%U\t%G\t%s\t%u\t%g' " + `'/srv/it'"'"'s here'; else echo absent; fi`},
		{SumProbe("/etc/motd", "").Command,
			`if [ -f /etc/motd ] && [ ! -h /etc/motd ]; then h=$(sha256sum < /etc/motd) && h=${h%% *} && echo "$h"; fi`},
		{SumProbe("/etc/motd", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").Command,
			`if [ -f /etc/motd ] && [ ! -h /etc/motd ]; then h=$(sha256sum < /etc/motd) && h=${h%% *} && echo "$h" && if [ "$h" != e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 ] && [ $(wc -c < /etc/motd) -le 65536 ]; then base64 < /etc/motd; fi; fi`},
		{DpkgProbe([]string{"curl", "nginx"}).Command,
			`dpkg-query -W -f='${Package}\t${Status}\t${Version}\n' curl nginx`},
		{AptPolicyProbe([]string{"curl", "libc6:i386"}).Command,
			`LC_ALL=C apt-cache policy curl libc6:i386`},
		{SystemdProbe("nginx").Command,
			`systemctl show -p ActiveState -p NeedDaemonReload nginx; systemctl is-enabled nginx`},
		{StatusProbe("unless", "sh -c 'id -u app'").Command,
			"( sh -c 'id -u app'\n) </dev/null >/dev/null 2>&1; echo $?"},
	} {
		if c.got != c.want {
			t.Errorf("\n got %s\nwant %s", c.got, c.want)
		}
	}
}
