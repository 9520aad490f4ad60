//go:build !unix

package hostkeys

import "os"

// lockFile is a no-op where flock does not exist; the in-process mutex still
// serializes opsrun's own appends.
func lockFile(*os.File) (func(), error) { return func() {}, nil }
