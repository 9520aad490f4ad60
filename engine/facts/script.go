package facts

// marker starts every section line of the script's output. The sections
// hold kernel- or root-written data (os-release, /proc files, ip's output),
// none of which can produce a line starting with it, so no random token is
// needed here (unlike engine/probe, whose outputs are arbitrary).
const marker = "@@opsrun-facts"

// script gathers every fact in one round trip. It is POSIX sh, runs as the
// login user, and needs nothing beyond what Debian minbase, a RHEL minimal
// container and Alpine's busybox all have: no iproute2, no procps, no
// bash. It prints raw data and leaves the decisions (families, init,
// interface of each address) to Go, where they are unit-tested against
// fixtures from real hosts.
//
// Why each step is the way it is:
//   - PATH gains the sbin directories because a non-root SSH session on
//     Debian has none of them, and ip and rc-service live there on some
//     systems.
//   - hostname is not in every minimal image (Rocky's), so the kernel's
//     copy is the fallback; nproc likewise falls back to /proc/cpuinfo.
//   - `ip -o -4 addr` names each address's interface directly; when it is
//     missing or prints nothing (netlink refused) the kernel's tables are
//     sent instead: local addresses from /proc/net/fib_trie, connected
//     routes (which name interfaces) from /proc/net/route, and interface
//     indexes so the order matches what ip would print. fib_trie can be
//     large on a router, hence only as the fallback.
//   - Every section starts on a fresh line (the echo before each marker)
//     because a file such as os-release may lack its final newline.
//   - The end marker proves the script ran to the end: a host that kills
//     the session half-way yields an error, not half the facts.
const script = `PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
m=` + marker + `
echo "$m vars"
echo "arch=$(uname -m 2>/dev/null)"
echo "kernel=$(uname -r 2>/dev/null)"
h=$(hostname 2>/dev/null)
[ -n "$h" ] || h=$(cat /proc/sys/kernel/hostname 2>/dev/null)
echo "hostname=$h"
n=$(nproc 2>/dev/null) || n=$(grep -c '^processor' /proc/cpuinfo 2>/dev/null)
echo "cpus=$n"
echo "mem=$(grep '^MemTotal:' /proc/meminfo 2>/dev/null)"
[ -d /run/systemd/system ] && echo systemd=1
[ -d /etc/init.d ] && echo initd=1
for c in apt-get dnf yum apk zypper rc-service; do command -v $c >/dev/null 2>&1 && echo "have=$c"; done
echo; echo "$m os-release"
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
a=
command -v ip >/dev/null 2>&1 && a=$(ip -o -4 addr show 2>/dev/null)
if [ -n "$a" ]; then
echo; echo "$m ip"; printf '%s\n' "$a"
else
echo; echo "$m fib_trie"; cat /proc/net/fib_trie 2>/dev/null
echo; echo "$m route"; cat /proc/net/route 2>/dev/null
echo; echo "$m ifindex"
for i in /sys/class/net/*; do [ -r "$i/ifindex" ] && echo "${i##*/} $(cat "$i/ifindex" 2>/dev/null)"; done
fi
echo; echo "$m end"
`
