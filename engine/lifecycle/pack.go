package lifecycle

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/engine/stack"
	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/modules"
)

// skipDirs are never shipped from a local source: version control and
// opsrun's own state.
var skipDirs = map[string]bool{".git": true, ".opsrun": true}

// packDir writes dir's tree to a gzipped tar at dest: regular files,
// directories and symbolic links, with their modes; names relative to
// dir. Owners are not kept: the release belongs to the app's user.
func packDir(dir, dest string) (err error) {
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() && skipDirs[d.Name()] {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		case info.IsDir(), info.Mode().IsRegular():
		default:
			return fmt.Errorf("%s: only files, directories and symbolic links can be shipped", path)
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	return errors.Join(err, tw.Close(), gz.Close())
}

// tarball is the packed local source of release id. A deploy packs the
// directory once and keeps the tarball beside the state store
// (.opsrun/releases/APP/ID.tar.gz), so that an instance joining later
// gets that release's code, not the directory as it is by then. Check
// mode packs to a temporary file. done removes what must not be kept.
func (s *session) tarball(ctx context.Context, a *stack.App, src stack.AppSource, id string) (path string, done func(), err error) {
	if s.opts.Check {
		if err := localBuild(ctx, a, src); err != nil {
			return "", nil, err
		}
		dir, err := os.MkdirTemp("", "opsrun-release-")
		if err != nil {
			return "", nil, err
		}
		path = filepath.Join(dir, id+".tar.gz")
		if err := packDir(src.Path, path); err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("app %s: packing %s: %w", a.Name, src.Path, err)
		}
		return path, func() { os.RemoveAll(dir) }, nil
	}
	dir := s.tarballDir(a)
	path = filepath.Join(dir, id+".tar.gz")
	if _, err := os.Stat(path); err == nil {
		return path, func() {}, nil
	}
	if err := localBuild(ctx, a, src); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	// Packed under another name and renamed: a deploy killed while packing
	// leaves no half tarball under the release's name.
	tmp := path + ".partial"
	_ = os.Remove(tmp)
	if err := packDir(src.Path, tmp); err != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("app %s: packing %s: %w", a.Name, src.Path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", nil, err
	}
	return path, func() {}, nil
}

// localBuild runs the source's local_build in its directory on this
// machine: a release that needs a compiler is built here, once, and the
// hosts get the result.
func localBuild(ctx context.Context, a *stack.App, src stack.AppSource) error {
	if src.LocalBuild == "" {
		return nil
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", src.LocalBuild)
	cmd.Dir = src.Path
	out, err := cmd.CombinedOutput()
	if err != nil {
		tail := strings.TrimSpace(string(out))
		if len(tail) > 2000 {
			tail = "..." + tail[len(tail)-2000:]
		}
		return fmt.Errorf("app %s: local_build %q in %s failed: %w: %s", a.Name, src.LocalBuild, src.Path, err, tail)
	}
	return nil
}

// tarballDir is absolute: the upload resource reads its source relative
// to the stack directory, and --state may be relative to the working one.
func (s *session) tarballDir(a *stack.App) string {
	dir := filepath.Join(filepath.Dir(s.in.Store.Path()), "releases", a.Name)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// pruneTarballs removes the kept tarballs of releases no instance keeps
// any more and that are not the app's last.
func (s *session) pruneTarballs(ctx context.Context, a *stack.App) {
	entries, err := os.ReadDir(s.tarballDir(a))
	if err != nil {
		return
	}
	keep := map[string]bool{}
	ps, err := s.in.Store.Placements(ctx, a.Name)
	if err != nil {
		return
	}
	for _, p := range ps {
		for _, id := range p.Kept {
			keep[id] = true
		}
	}
	if last, err := s.in.Store.LastRelease(ctx, a.Name); err != nil {
		return
	} else if last != nil {
		keep[last.ID] = true
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".tar.gz")
		if ok && !keep[id] {
			if err := os.Remove(filepath.Join(s.tarballDir(a), e.Name())); err != nil {
				s.log.Warn("could not remove an old release tarball", "err", err)
			}
		}
	}
}

// commit is the git commit checked out in dir on h, "" when it cannot be
// read (the release is recorded by its ref alone then).
func (s *session) commit(ctx context.Context, h *inventory.Host, dir string) string {
	conn, err := s.dialer.Dial(ctx, h)
	if err != nil {
		return ""
	}
	res, err := run.Exec(ctx, conn, modules.Action{Command: "git -C " + q(dir) + " rev-parse HEAD"}, s.in.Stack.Settings.Become, false)
	if err != nil {
		s.log.Warn("could not read the deployed commit", "host", h.Name, "err", err)
		return ""
	}
	if c := strings.TrimSpace(string(res.Stdout)); commitRE.MatchString(c) {
		return c
	}
	return ""
}
