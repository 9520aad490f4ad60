//go:build unix

package hostkeys

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f, so opsrun processes
// running at once (two cron jobs) never interleave known_hosts appends.
func lockFile(f *os.File) (unlock func(), err error) {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
}
