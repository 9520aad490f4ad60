package main

import (
	"context"
	"strings"
	"testing"
)

func TestTestenvUpAWSFlag(t *testing.T) {
	streams, _, _ := testenvTestIO()
	f := &Factory{IO: streams}
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--name", "demo", "--hosts", "1", "--aws"}, true},
		{[]string{"--name", "demo", "--hosts", "1"}, false},
	} {
		var got *TestenvUpOptions
		cmd := NewCmdTestenvUp(f, func(o *TestenvUpOptions) error { got = o; return nil })
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if got.AWS != tc.want {
			t.Errorf("%v: AWS = %v", tc.args, got.AWS)
		}
	}
}

func TestTestenvAWSEndpointNeedsDir(t *testing.T) {
	code, _, errOut := mainIn("testenv", "aws-endpoint")
	if code != ExitError || !strings.Contains(errOut, "--dir DIR") {
		t.Errorf("exit %d, %s", code, errOut)
	}
}

func TestTestenvFleetDir(t *testing.T) {
	if got := testenvFleetDir(context.Background(), "x", "/given"); got != "/given" {
		t.Errorf("given dir: %s", got)
	}
}
