package main

import (
	"slices"
	"strings"
	"testing"
)

func TestDocCommand(t *testing.T) {
	streams, out, errOut := testIO()
	if code := Main([]string{"doc"}, streams); code != ExitOK {
		t.Fatalf("doc: exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(out.String(), "archive ") || !strings.Contains(out.String(), "\nservice ") {
		t.Errorf("doc lists:\n%s", out)
	}

	streams, out, errOut = testIO()
	if code := Main([]string{"doc", "service"}, streams); code != ExitOK {
		t.Fatalf("doc service: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out.String(), "  name (string, required)") {
		t.Errorf("doc service:\n%s", out)
	}

	streams, out, errOut = testIO()
	if code := Main([]string{"doc", "servise"}, streams); code != ExitError {
		t.Fatalf("unknown type: exit %d, want %d", code, ExitError)
	}
	if got := errOut.String(); got != "opsrun: no resource type \"servise\"; did you mean service? (opsrun doc lists them all)\n" || out.Len() != 0 {
		t.Errorf("unknown type: stderr %q, stdout %q", got, out)
	}
}

func TestDocLayers(t *testing.T) {
	streams, out, errOut := testIO()
	if code := Main([]string{"doc", "layers"}, streams); code != ExitOK {
		t.Fatalf("doc layers: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var names []string
	for _, l := range lines {
		names = append(names, strings.Fields(l)[0])
	}
	for _, want := range []string{"haproxy", "nginx", "static", "nodejs", "python", "ruby", "java", "php", "go", "worker", "mysql", "postgresql", "redis", "memcached", "monitoring"} {
		if !slices.Contains(names, want) {
			t.Errorf("doc layers lacks %s (one per line, name first):\n%s", want, out)
		}
	}

	streams, out, errOut = testIO()
	if code := Main([]string{"doc", "layer", "haproxy"}, streams); code != ExitOK {
		t.Fatalf("doc layer haproxy: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Settings", "  backends ", "Events:", "  configure ", "  shutdown ", "Extending it:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doc layer haproxy lacks %q:\n%s", want, out)
		}
	}

	streams, _, errOut = testIO()
	if code := Main([]string{"doc", "layer", "hapoxy"}, streams); code != ExitError || !strings.Contains(errOut.String(), `no built-in layer "hapoxy"`) {
		t.Errorf("unknown layer: exit %d: %s", code, errOut)
	}
	streams, _, _ = testIO()
	if code := Main([]string{"doc", "layer"}, streams); code != ExitError {
		t.Errorf("doc layer without a name: exit %d", code)
	}
}
