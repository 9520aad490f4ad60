package sshconn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"

	"github.com/pkg/sftp"

	"github.com/opsrun/opsrun/engine/transport"
)

// sftpConcurrency is how many write requests an upload keeps in flight:
// one at a time would make every 32 KiB wait a round trip.
const sftpConcurrency = 64

// sftpClient opens the connection's SFTP session on first use.
func (c *conn) sftpClient() (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	cl, err := sftp.NewClient(c.client, sftp.MaxConcurrentRequestsPerFile(sftpConcurrency))
	if err != nil {
		return nil, c.lostOr(fmt.Errorf("start sftp: %w", err))
	}
	c.sftp = cl
	return cl, nil
}

// Upload streams r to spec.Path: into a temporary file (in the destination
// directory, or with Become a private one in /tmp that sudo copies there),
// then one command verifies the checksum, sets mode and owner, syncs and
// renames it over the destination. Readers of spec.Path see the old file or
// the new one, never a part.
func (c *conn) Upload(ctx context.Context, r io.Reader, spec transport.FileSpec) error {
	err := c.upload(ctx, r, spec)
	c.log.Debug("upload", "host", c.name, "path", spec.Path, "become", spec.Become, "error", err)
	if err != nil {
		return &transport.HostError{Host: c.name, Op: "upload", Err: err}
	}
	return nil
}

func (c *conn) upload(ctx context.Context, r io.Reader, spec transport.FileSpec) error {
	if !path.IsAbs(spec.Path) || strings.HasSuffix(spec.Path, "/") {
		return fmt.Errorf("%w: upload destination %q must be an absolute file path", transport.ErrConfig, spec.Path)
	}
	tok, err := randomToken()
	if err != nil {
		return err
	}
	dir := path.Dir(spec.Path)
	temp := path.Join(dir, ".opsrun-"+tok)
	staging := temp
	if spec.Become {
		// The login user may not write dir; sudo moves the file there.
		staging = "/tmp/.opsrun-" + tok
	}
	cl, err := c.sftpClient()
	if err != nil {
		return err
	}
	sum, err := c.put(ctx, cl, staging, r)
	if err != nil {
		_ = cl.Remove(staging)
		return err
	}
	script := finalizeScript(staging, temp, spec, sum)
	res, err := c.Run(ctx, transport.Cmd{Command: script, Become: spec.Become})
	if err != nil {
		_ = cl.Remove(staging)
		return unwrapHostError(err)
	}
	if res.ExitStatus != 0 {
		_ = cl.Remove(staging)
		return fmt.Errorf("finishing %s (exit %d): %s", spec.Path, res.ExitStatus, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

// put writes r to remote path name, created exclusively (O_EXCL: a planted
// file or symlink at the random name makes it fail rather than be
// followed) and private, and returns the hex SHA-256 of what was sent.
func (c *conn) put(ctx context.Context, cl *sftp.Client, name string, r io.Reader) (string, error) {
	f, err := cl.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return "", c.lostOr(fmt.Errorf("create %s: %w", name, err))
	}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		if ctx.Err() != nil {
			// The AfterFunc closed the file under Chmod: the cause is
			// the cancellation, not the file.
			return "", ctx.Err()
		}
		return "", c.lostOr(fmt.Errorf("chmod %s: %w", name, err))
	}
	h := sha256.New()
	_, err = f.ReadFromWithConcurrency(&hashReader{ctx: ctx, r: r, h: h}, sftpConcurrency)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		return "", c.lostOr(fmt.Errorf("write %s: %w", name, err))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashReader hashes what it reads and stops when ctx ends, so a cancelled
// upload stops reading its source.
type hashReader struct {
	ctx context.Context
	r   io.Reader
	h   hash.Hash
}

func (hr *hashReader) Read(p []byte) (int, error) {
	if err := hr.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	return n, err
}

// finalizeScript is the one remote command that turns the uploaded
// staging file into spec.Path. With Become it first copies the staging file
// (owned by the login user, in /tmp) to temp beside the destination; the
// EXIT trap removes whatever is left on any failure.
func finalizeScript(staging, temp string, spec transport.FileSpec, sum string) string {
	mode := spec.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	var b strings.Builder
	q := transport.ShellQuote
	fmt.Fprintf(&b, "set -e; t=%s; d=%s; ", q(temp), q(spec.Path))
	if staging != temp {
		fmt.Fprintf(&b, "s=%s; trap 'rm -f \"$s\" \"$t\"' EXIT; umask 077; cp \"$s\" \"$t\"; ", q(staging))
	} else {
		b.WriteString(`trap 'rm -f "$t"' EXIT; `)
	}
	fmt.Fprintf(&b, `h=$(sha256sum "$t"); [ "${h%%%% *}" = %s ] || { echo "opsrun: checksum of $t does not match what was sent" >&2; exit 1; }; `, sum)
	fmt.Fprintf(&b, `chmod %04o "$t"; `, mode)
	switch {
	case spec.Owner != "" && spec.Group != "":
		fmt.Fprintf(&b, `chown %s "$t"; `, q(spec.Owner+":"+spec.Group))
	case spec.Owner != "":
		fmt.Fprintf(&b, `chown %s "$t"; `, q(spec.Owner))
	case spec.Group != "":
		fmt.Fprintf(&b, `chgrp %s "$t"; `, q(spec.Group))
	}
	// sync FILE is coreutils >= 8.24; older or busybox hosts sync everything.
	b.WriteString(`sync "$t" 2>/dev/null || sync; mv -f "$t" "$d"`)
	return b.String()
}

// Download streams the remote file at p into w: over SFTP, or with become
// through `sudo cat` for files the login user cannot read.
func (c *conn) Download(ctx context.Context, p string, w io.Writer, become bool) error {
	err := c.download(ctx, p, w, become)
	c.log.Debug("download", "host", c.name, "path", p, "become", become, "error", err)
	if err != nil {
		return &transport.HostError{Host: c.name, Op: "download", Err: err}
	}
	return nil
}

func (c *conn) download(ctx context.Context, p string, w io.Writer, become bool) error {
	if become {
		res, err := c.Run(ctx, transport.Cmd{Command: "cat -- " + transport.ShellQuote(p), Stdout: w, Become: true})
		if err != nil {
			return unwrapHostError(err)
		}
		if res.ExitStatus != 0 {
			return fmt.Errorf("read %s (exit %d): %s", p, res.ExitStatus, strings.TrimSpace(string(res.Stderr)))
		}
		return nil
	}
	cl, err := c.sftpClient()
	if err != nil {
		return err
	}
	f, err := cl.Open(p)
	if err != nil {
		return c.lostOr(fmt.Errorf("open %s: %w", p, err))
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	_, err = f.WriteTo(w)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return c.lostOr(fmt.Errorf("read %s: %w", p, err))
	}
	return nil
}

// unwrapHostError avoids "host: run: host: upload: ..." when a transfer
// fails in the command it runs.
func unwrapHostError(err error) error {
	if he, ok := err.(*transport.HostError); ok {
		return he.Err
	}
	return err
}

func randomToken() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random name: %w", err)
	}
	return hex.EncodeToString(b), nil
}
