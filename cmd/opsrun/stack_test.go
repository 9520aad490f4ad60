package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunFlags(t *testing.T) {
	streams, _, _ := testIO()
	f := &Factory{IO: streams}
	var got *RunOptions
	cmd := NewCmdRun(f, false, func(o *RunOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"deploy", "stacks/shop", "-i", "a.hcl", "--layer", "web", "--hosts", "web-*", "--check", "--forks", "5", "-o", "json", "--var", "x=1", "--var-file", "v.vars"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Event != "deploy" || got.Dir != "stacks/shop" || got.Layer != "web" || got.Hosts != "web-*" || !got.Check ||
		got.Forks != 5 || got.Output != "json" || got.Vars[0] != "x=1" || got.VarFiles[0] != "v.vars" || got.Inventories[0] != "a.hcl" {
		t.Errorf("options %+v", got)
	}
	cmd = NewCmdRun(f, true, func(o *RunOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"setup"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.Check || !got.Plan || got.Dir != "." {
		t.Errorf("plan must be check mode in the current directory: %+v", got)
	}
}

func TestStackCommandErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte("layer \"web\" {\n  on \"setup\" {\n    pakage \"x\" {}\n  }\n}\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "boot", dir}, `unknown event "boot"`},
		{[]string{"validate", dir}, filepath.Join(dir, "stack.hcl") + ":3:5: error: "},
		{[]string{"plan", "setup", dir}, "stack.hcl:3:5: error: "},
		{[]string{"run", "setup", filepath.Join(dir, "nope")}, "nope"},
	} {
		streams, _, errOut := testIO()
		if code := Main(tc.args, streams); code != ExitError || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
	// A valid stack with no host in its layers says so, naming the fix.
	os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte("layer \"web\" {\n  on \"setup\" {\n    command \"x\" {\n      command = \"true\"\n    }\n  }\n}\n"), 0o644)
	streams, _, errOut := testIO()
	if code := Main([]string{"run", "setup", dir}, streams); code != ExitError || !strings.Contains(errOut.String(), "no host is in any of its layers") {
		t.Errorf("no hosts: exit %d, stderr %q", code, errOut.String())
	}
}

// validate runs each type's own checks on what is known without a host:
// a bad attribute value points at its argument, a broken template names
// its own file, line and column; values that need a host are left alone.
func TestValidateRunsTypeChecks(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "motd.tmpl"), []byte("hello ${host.hostnme}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(`layer "web" {
  on "setup" {
    file "conf" {
      path = "/etc/app.conf"
      mode = "999"
    }
    service "web" {
      name  = host.os.family == "rhel" ? "httpd" : "apache2"
      state = "runnning"
    }
    template "motd" {
      path   = "/etc/motd"
      source = "motd.tmpl"
    }
    file "fine" {
      path    = "/etc/${host.hostname}"
      content = host.hostname
    }
  }
}
`), 0o644)
	streams, _, errOut := testIO()
	if code := Main([]string{"validate", dir}, streams); code != ExitError {
		t.Fatalf("exit %d, want %d\n%s", code, ExitError, errOut)
	}
	for _, want := range []string{
		"stack.hcl:5:14: error: Invalid resource configuration; file.conf: mode:",
		"stack.hcl:9:15: error: Invalid resource configuration; service.web: state:",
		"motd.tmpl:1:",
		"opsrun: 3 error(s) in the stack",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut.String(), "file.fine") {
		t.Errorf("a resource whose values need a host was refused:\n%s", errOut)
	}
}
