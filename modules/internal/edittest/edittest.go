// Package edittest helps the fuzz tests of the types that edit part of a
// file in place (textedit's: line, blockinfile): it answers their probe
// with any content, declares a resource from fuzzed parts and checks that
// editing what a plan wrote changes nothing — the promise a second run
// relies on. One copy, so the types are fuzzed alike.
package edittest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

// Facts is the text-file probe's answer for a regular file at path,
// mode 0644 and root's, holding b.
func Facts(path string, b []byte) modules.Facts {
	out := fmt.Sprintf("%d\tregular file\t644\troot\troot\t%d\t0\t0\n%s\n", len(b), len(b), base64.StdEncoding.EncodeToString(b))
	return modules.Facts{"textfile:" + path: {Stdout: out}}
}

// Declare builds a resource of typ from attrs, with insert_after or
// insert_before chosen by pos: none, "EOF", "BOF", or pattern after or
// before. It returns nil when the declaration is invalid: fuzzed ones
// often are, and refusing them is New's business.
func Declare(t *testing.T, typ *modules.Type, attrs map[string]any, pos uint8, pattern string) modules.Resource {
	t.Helper()
	switch pos % 5 {
	case 1:
		attrs["insert_after"] = "EOF"
	case 2:
		attrs["insert_before"] = "BOF"
	case 3:
		attrs["insert_after"] = pattern
	case 4:
		attrs["insert_before"] = pattern
	}
	raw := map[string]json.RawMessage{}
	for k, v := range attrs {
		raw[k], _ = json.Marshal(v)
	}
	res, err := typ.New(fixture.Config(t, typ, raw, nil, ""))
	if err != nil {
		return nil
	}
	return res
}

// Idempotent takes the content that the last of acts, res's plan (not
// empty) for content at path, writes, and fails t unless planning res
// against it again changes nothing. It returns that content.
func Idempotent(t *testing.T, res modules.Resource, path string, content []byte, acts []modules.Action) []byte {
	t.Helper()
	next := acts[len(acts)-1].Upload.Content
	again, err := res.Plan(fixture.DefaultHost(), Facts(path, next))
	if err != nil || len(again) != 0 {
		t.Fatalf("not idempotent: %q → %q → %+v (%v)", content, next, again, err)
	}
	return next
}
