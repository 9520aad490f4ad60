package service_test

import (
	"errors"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/service"
)

func TestFixtures(t *testing.T) { fixture.Run(t, service.Type()) }

// TestMissingUnitIsMarked checks the engine can tell "the unit is not
// there (yet)" from other failures, for check mode.
func TestMissingUnitIsMarked(t *testing.T) {
	res := fixture.New(t, service.Type(), map[string]any{"name": "nginx"}, t.TempDir())
	f := modules.Facts{"systemd:nginx": {Stdout: "inactive\n", ExitStatus: 3}}
	_, err := res.Plan(fixture.DefaultHost(), f)
	if !errors.Is(err, modules.ErrMissingOnHost) {
		t.Fatalf("Plan error %v does not wrap ErrMissingOnHost", err)
	}
	_, err = res.(modules.Notifiable).Notified(fixture.DefaultHost(), f)
	if !errors.Is(err, modules.ErrMissingOnHost) {
		t.Fatalf("Notified error %v does not wrap ErrMissingOnHost", err)
	}
}
