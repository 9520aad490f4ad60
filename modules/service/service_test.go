package service_test

import (
	"errors"
	"testing"

	"github.com/opsrun/opsrun/modules"
	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/service"
)

func TestFixtures(t *testing.T) { fixture.Run(t, service.Type()) }

// TestMissingIsMarked checks, for every init system, the engine can tell
// "the service is not there (yet)" from other failures, for check mode,
// from Plan and from a notification alike.
func TestMissingIsMarked(t *testing.T) {
	for _, c := range []struct {
		init  string
		facts modules.Facts
		want  string
	}{
		{"systemd", modules.Facts{"systemd:nginx": {Stdout: "ActiveState=inactive\nNeedDaemonReload=no\n", ExitStatus: 1}}, "unit nginx.service not found"},
		{"openrc", modules.Facts{"openrc:nginx": {Stdout: "no-service\n"}}, "no OpenRC service nginx (no /etc/init.d/nginx)"},
		{"sysvinit", modules.Facts{"sysv:nginx": {Stdout: "missing\n"}}, "no init script /etc/init.d/nginx"},
	} {
		h := fixture.DefaultHost()
		h.Init = c.init
		res := fixture.New(t, service.Type(), map[string]any{"name": "nginx"}, t.TempDir())
		_, err := res.Plan(h, c.facts)
		if !errors.Is(err, modules.ErrMissingOnHost) || err.Error() != c.want+": "+modules.ErrMissingOnHost.Error() {
			t.Errorf("%s: Plan error %v, want %q wrapping ErrMissingOnHost", c.init, err, c.want)
		}
		_, err = res.(modules.Notifiable).Notified(h, c.facts)
		if !errors.Is(err, modules.ErrMissingOnHost) {
			t.Errorf("%s: Notified error %v does not wrap ErrMissingOnHost", c.init, err)
		}
	}
}

// TestAttrsDocumented checks every attribute can be printed by `opsrun
// doc` with an explanation and an example.
func TestAttrsDocumented(t *testing.T) {
	typ := service.Type()
	if typ.Doc == "" {
		t.Error("type has no Doc")
	}
	for _, a := range typ.Attrs {
		if a.Doc == "" || a.Example == "" {
			t.Errorf("%s: Doc %q, Example %q", a.Name, a.Doc, a.Example)
		}
	}
}
