package main

import (
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
