package local

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsrun/opsrun/engine/transport"
)

func TestRun(t *testing.T) {
	c := &Conn{Name: "here"}
	res, err := c.Run(context.Background(), transport.Cmd{Command: "echo out; echo err >&2; exit 3"})
	if err != nil || res.ExitStatus != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Fatalf("res %+v err %v", res, err)
	}
	res, err = c.Run(context.Background(), transport.Cmd{Command: "cat", Stdin: strings.NewReader("in")})
	if err != nil || string(res.Stdout) != "in" {
		t.Fatalf("stdin: %+v %v", res, err)
	}
}

func TestRunCancel(t *testing.T) {
	c := &Conn{Name: "here"}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Run(ctx, transport.Cmd{Command: "sleep 30 & wait"})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("cancel: err %v after %s", err, time.Since(start))
	}
}

func TestUploadDownload(t *testing.T) {
	c := &Conn{Name: "here"}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Upload(context.Background(), strings.NewReader("new content"), transport.FileSpec{Path: p, Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v err %v", st.Mode(), err)
	}
	var buf bytes.Buffer
	if err := c.Download(context.Background(), p, &buf, false); err != nil || buf.String() != "new content" {
		t.Fatalf("download %q %v", buf.String(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
