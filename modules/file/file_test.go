package file_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/file"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, file.Type()) }

// TestUnknownContent checks content computed from values not known yet
// does not plan as an unmanaged (empty) file: Plan refuses instead.
func TestUnknownContent(t *testing.T) {
	cfg := fixture.Config(t, file.Type(), map[string]json.RawMessage{"path": json.RawMessage(`"/etc/motd"`)}, nil, t.TempDir())
	cfg.Attrs["content"] = cty.UnknownVal(cty.String)
	res, err := file.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = res.Plan(fixture.DefaultHost(), modules.Facts{"stat:/etc/motd": {Stdout: "absent\n"}})
	if err == nil || !strings.Contains(err.Error(), "not known") {
		t.Fatalf("Plan: %v, want an error saying the content is not known", err)
	}
}
