package testenv

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// The image recipe. Everything that shapes the image is in these values,
// and the image tag is derived from their hash (imageTag), so changing any
// of them builds a new image instead of silently reusing a stale one.
const (
	imageRepo   = "opsrun-testenv"
	imageSuite  = "bookworm"
	imageMirror = "http://deb.debian.org/debian"
)

// imagePackages are installed by debootstrap: sshd and sudo for opsrun,
// systemd so service resources really work, dbus for systemctl's clients,
// ca-certificates so hosts can fetch over HTTPS.
var imagePackages = []string{"openssh-server", "sudo", "systemd", "systemd-sysv", "dbus", "ca-certificates"}

// maskedUnits only slow boot or fail in a container: consoles that do not
// exist, periodic maintenance that would compete with the code under test,
// a first-boot wizard that prompts on a console.
var maskedUnits = []string{
	"console-getty.service", "getty@.service", "serial-getty@.service",
	"getty-static.service", "container-getty@.service",
	"apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
	"dpkg-db-backup.timer", "e2scrub_all.timer", "e2scrub_all.service", "e2scrub_reap.service",
	"fstrim.timer", "systemd-firstboot.service", "systemd-pstore.service",
	"sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-kernel-config.mount",
	"sys-fs-fuse-connections.mount", "proc-sys-fs-binfmt_misc.automount",
	"systemd-remount-fs.service", "systemd-journald-audit.socket",
}

// sshdConfig is dropped into sshd_config.d. Host keys and authorized keys
// live under /etc/ssh/opsrun, injected per container at create time, so the
// image itself holds no secret and every host has its own identity.
const sshdConfig = `HostKey /etc/ssh/opsrun/ssh_host_ed25519_key
AuthorizedKeysFile /etc/ssh/opsrun/authorized_keys .ssh/authorized_keys
UseDNS no
PasswordAuthentication yes
PermitRootLogin prohibit-password
MaxStartups 200:30:400
MaxSessions 64
`

// setupScript runs in the chroot after debootstrap.
func setupScript() string {
	var b strings.Builder
	b.WriteString(`set -eu
# Bake the package indexes and pkgcache.bin into the image: without them each
# host's first package action downloads and parses ~50 MB. (apt-get clean
# would delete pkgcache.bin too, so only the downloaded .debs go.)
apt-get update -qq
rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb
# Every host gets its own key at create time.
rm -f /etc/ssh/ssh_host_*
mkdir -p /etc/ssh/opsrun /run/sshd
chmod 0755 /etc/ssh/opsrun
# An empty machine-id makes systemd generate one per container at boot.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
# Docker mounts its own; do not ship the build machine's resolver.
: > /etc/resolv.conf
useradd -m -s /bin/bash -u 1000 opsrun
echo 'opsrun ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/opsrun
chmod 0440 /etc/sudoers.d/opsrun
useradd -m -s /bin/bash -u 1001 deploy
echo 'deploy:` + DeployPassword + `' | chpasswd
echo 'deploy ALL=(ALL) ALL' > /etc/sudoers.d/deploy
chmod 0440 /etc/sudoers.d/deploy
cat > /etc/ssh/sshd_config.d/opsrun.conf <<'EOF'
` + sshdConfig + `EOF
`)
	for _, u := range maskedUnits {
		fmt.Fprintf(&b, "ln -sf /dev/null /etc/systemd/system/%s\n", u)
	}
	b.WriteString("rm -f /etc/systemd/system/getty.target.wants/getty@tty1.service\n")
	return b.String()
}

// ImageTag is the tag of the image the current recipe builds, whether or not
// it exists yet.
func ImageTag() string {
	h := sha256.New()
	fmt.Fprintf(h, "suite=%s\nmirror=%s\npackages=%s\n", imageSuite, imageMirror, strings.Join(imagePackages, ","))
	io.WriteString(h, setupScript())
	return fmt.Sprintf("%s:%s-%s", imageRepo, imageSuite, hex.EncodeToString(h.Sum(nil))[:8])
}

// EnsureImage returns the tag of the host image, building it first when the
// Docker daemon does not have it. Building takes about a minute (debootstrap
// from the Debian mirror); concurrent callers, in this process or others,
// wait for one build instead of racing. A failed build leaves neither an
// image tag nor a temporary directory behind.
func EnsureImage(ctx context.Context, log *slog.Logger) (string, error) {
	log = orDiscard(log)
	if err := checkDocker(ctx); err != nil {
		return "", err
	}
	tag := ImageTag()
	if ok, err := imageExists(ctx, tag); err != nil || ok {
		return tag, err
	}
	unlock, err := lockImageBuild(ctx, log)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another process may have built it while we waited for the lock.
	if ok, err := imageExists(ctx, tag); err != nil || ok {
		return tag, err
	}
	if err := buildImage(ctx, log, tag); err != nil {
		return "", err
	}
	return tag, nil
}

func imageExists(ctx context.Context, tag string) (bool, error) {
	out, err := docker(ctx, "images", "-q", tag)
	if err != nil {
		return false, fmt.Errorf("look up image %s: %w", tag, err)
	}
	return strings.TrimSpace(string(out)) != "", nil
}

// lockImageBuild takes an exclusive flock shared by every process on the
// machine (test packages run in parallel and each calls Up). The lock file
// is in the system temp dir so that different users of one Docker daemon
// share it too. It polls rather than blocking in flock(2), which ctx could
// not interrupt.
func lockImageBuild(ctx context.Context, log *slog.Logger) (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "opsrun-testenv-image.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		// Created by another user without write access for us: a read-only
		// descriptor locks just as well.
		if f, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("open image build lock: %w", err)
		}
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			log.Info("waiting for another process to finish building the testenv image", "lock", path)
			waited = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for the image build lock: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// buildImage runs the recipe into a temporary rootfs and imports it. The
// import goes to an untagged image that is tagged only once complete, so an
// interrupted build never leaves a tag that later runs would trust.
func buildImage(ctx context.Context, log *slog.Logger, tag string) (err error) {
	start := time.Now()
	sudo := os.Geteuid() != 0
	if _, err := exec.LookPath("debootstrap"); err != nil {
		if _, err2 := os.Stat("/usr/sbin/debootstrap"); err2 != nil {
			return unavailable("debootstrap is not installed: apt-get install -y debootstrap")
		}
	}
	if sudo {
		if _, err := run(ctx, runOpts{sudo: true}, "true"); err != nil {
			return unavailable("building the testenv image needs root (debootstrap, chroot) and `sudo -n true` failed: run as root or allow passwordless sudo")
		}
	}
	tmp, err := os.MkdirTemp(buildParent(), "opsrun-testenv-build-")
	if err != nil {
		return fmt.Errorf("build image: %w", err)
	}
	defer func() {
		if rerr := removeBuildDir(tmp, sudo); rerr != nil {
			log.Warn("could not remove the image build directory", "dir", tmp, "err", rerr)
		}
	}()
	rootfs := filepath.Join(tmp, "rootfs")
	sudoOpt := runOpts{sudo: sudo}

	log.Info("building the testenv host image (debootstrap, about a minute; once per machine)", "image", tag)
	if _, err := run(ctx, sudoOpt, debootstrapPath(), "--variant=minbase",
		"--include="+strings.Join(imagePackages, ","), imageSuite, rootfs, imageMirror); err != nil {
		return fmt.Errorf("build image: debootstrap: %w", err)
	}
	log.Debug("debootstrap done", "duration", time.Since(start).Round(time.Millisecond))

	if _, err := run(ctx, runOpts{sudo: sudo}, "env", "-i",
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive", "HOME=/root",
		"chroot", rootfs, "/bin/sh", "-c", setupScript()); err != nil {
		return fmt.Errorf("build image: configure rootfs: %w", err)
	}
	if err := importRootfs(ctx, sudo, rootfs, tag); err != nil {
		return fmt.Errorf("build image: %w", err)
	}
	log.Info("built the testenv host image", "image", tag, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// buildParent is where the rootfs is made: /var/tmp when there is one,
// because /tmp is often a tmpfs mounted nodev or noexec, under which
// debootstrap cannot create device nodes or run the chroot's programs.
func buildParent() string {
	if st, err := os.Stat("/var/tmp"); err == nil && st.IsDir() {
		return "/var/tmp"
	}
	return os.TempDir()
}

func debootstrapPath() string {
	if p, err := exec.LookPath("debootstrap"); err == nil {
		return p
	}
	return "/usr/sbin/debootstrap"
}

// importRootfs streams the rootfs as a tar into `docker import`, then tags.
func importRootfs(ctx context.Context, sudo bool, rootfs, tag string) error {
	name, args := "tar", []string{"--numeric-owner", "-C", rootfs, "-cf", "-", "."}
	if sudo {
		name, args = "sudo", append([]string{"-n", name}, args...)
	}
	tarCmd := exec.CommandContext(ctx, name, args...)
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		return err
	}
	var tarErr strings.Builder
	tarCmd.Stderr = &tarErr
	if err := tarCmd.Start(); err != nil {
		return fmt.Errorf("tar rootfs: %w", err)
	}
	out, importErr := run(ctx, runOpts{stdin: pipe}, "docker", "import",
		"-c", `CMD ["/sbin/init"]`,
		"-c", "LABEL "+labelFleet+".image="+tag,
		"-")
	waitErr := tarCmd.Wait()
	if importErr != nil {
		return fmt.Errorf("import: %w", importErr)
	}
	id := strings.TrimSpace(string(out))
	if waitErr != nil {
		// The daemon may have imported a truncated stream; drop it.
		docker(context.WithoutCancel(ctx), "rmi", id)
		return fmt.Errorf("tar rootfs: %w: %s", waitErr, lastLine(tarErr.String()))
	}
	if _, err := docker(ctx, "tag", id, tag); err != nil {
		docker(context.WithoutCancel(ctx), "rmi", id)
		return fmt.Errorf("tag image: %w", err)
	}
	return nil
}

// removeBuildDir deletes the build directory, first detaching any mount left
// inside it (debootstrap mounts /proc and /sys in the target and may die
// before unmounting): removing through a live mount would delete files on
// the host's real filesystems.
func removeBuildDir(dir string, sudo bool) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if sudo {
			_, err = run(context.Background(), runOpts{sudo: true}, "umount", "-l", m)
		} else {
			err = syscall.Unmount(m, syscall.MNT_DETACH)
		}
		if err != nil {
			return fmt.Errorf("unmount %s (left in place, remove it by hand): %w", m, err)
		}
	}
	if mounts, err := mountsUnder(dir); err != nil || len(mounts) > 0 {
		return fmt.Errorf("mounts remain under %s; left in place, remove it by hand", dir)
	}
	if sudo {
		_, err := run(context.Background(), runOpts{sudo: true}, "rm", "-rf", "--one-file-system", dir)
		return err
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists mount points strictly below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	prefix := filepath.Clean(dir) + "/"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// orDiscard makes a nil logger usable.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
