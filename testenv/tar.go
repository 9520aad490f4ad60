package testenv

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// tarFile is one regular file to put into a container.
type tarFile struct {
	Path string // absolute path in the container
	Mode fs.FileMode
	Data []byte
}

// buildTar makes the archive `docker cp - C:/` extracts at the container's
// root. It holds regular files only: a directory entry would make docker
// reset the mode of an existing directory such as /etc. The directories
// must already exist in the image. Owners are root, which is what sshd's
// StrictModes wants for host keys and authorized_keys.
func buildTar(files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("tar: path %q is not absolute", f.Path)
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     strings.TrimPrefix(f.Path, "/"),
			Mode:     int64(f.Mode.Perm()),
			Size:     int64(len(f.Data)),
			ModTime:  now,
			Uname:    "root",
			Gname:    "root",
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}

// hostFiles are the files that give a host its identity: its own host key
// and the fleet's client key as the only authorized key (for every user,
// through sshd's AuthorizedKeysFile).
func hostFiles(hostKey keyPair, clientKey keyPair) []tarFile {
	return []tarFile{
		{Path: "/etc/ssh/opsrun/ssh_host_ed25519_key", Mode: 0o600, Data: hostKey.PrivatePEM},
		{Path: "/etc/ssh/opsrun/ssh_host_ed25519_key.pub", Mode: 0o644, Data: hostKey.AuthorizedKey()},
		{Path: "/etc/ssh/opsrun/authorized_keys", Mode: 0o644, Data: clientKey.AuthorizedKey()},
	}
}
