// Package filediff renders the Diff of an action that writes a file: a
// unified diff for text, checksums for what cannot be shown as text, and
// nothing at all for sensitive content.
package filediff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"unicode/utf8"

	udiff "github.com/aymanbagabas/go-udiff"
)

// MaxSize is the largest content shown as a text diff.
const MaxSize = 64 << 10

// Hidden is the diff of sensitive content.
const Hidden = "(sensitive content hidden)"

// Side is one side of a diff: the file on the host or the desired one.
type Side struct {
	Exists  bool   // false: no file (diffed as /dev/null)
	SHA256  string // hex checksum, always known when Exists
	Content []byte // the content, when Known
	Known   bool   // Content is available (not too large, fetched)
}

// Text is a Side for content in hand.
func Text(b []byte) Side {
	s := sha256.Sum256(b)
	return Side{Exists: true, SHA256: hex.EncodeToString(s[:]), Content: b, Known: true}
}

// Unified is the diff from the host's file to the desired one at path.
// It is empty when the contents are equal.
func Unified(path string, from, to Side, sensitive bool) string {
	if from.Exists && to.Exists && from.SHA256 == to.SHA256 {
		return ""
	}
	if sensitive {
		return Hidden
	}
	if !textual(from) || !textual(to) {
		a := "(none)"
		if from.Exists {
			a = from.SHA256
		}
		return "(binary or large content: sha256 " + a + " → " + to.SHA256 + ")"
	}
	fromLabel := path + " (on host)"
	if !from.Exists {
		fromLabel = "/dev/null"
	}
	return udiff.Unified(fromLabel, path+" (desired)", string(from.Content), string(to.Content))
}

// textual reports whether a side can be shown as lines of text: a missing
// file can (it is empty), content must be in hand and IsText.
func textual(s Side) bool {
	return !s.Exists || s.Known && IsText(s.Content)
}

// IsText reports whether b is shown as text in a diff: at most MaxSize,
// valid UTF-8 and free of NUL bytes.
func IsText(b []byte) bool {
	return len(b) <= MaxSize && utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}
