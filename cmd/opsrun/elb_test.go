package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/testenv/awsapi"
)

// elbStack is appStack with its app layer behind a target group of srv,
// whose target the host is by its address.
func elbStack(t *testing.T, srv *awsapi.Server) (dir, root, arn string) {
	t.Helper()
	dir, root = appStack(t)
	arn = srv.AddTargetGroup("shop", 8080, "ip")
	path := filepath.Join(dir, "stack.hcl")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(src), "layer \"app\" {\n", "layer \"app\" {\n  target_groups = [\""+arn+"\"]\n", 1)
	out = strings.Replace(out, "host \"local\" {\n", "host \"local\" {\n  address = \"127.0.0.1\"\n", 1)
	if out == string(src) {
		t.Fatal("the stack did not change")
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, root, arn
}

func TestDeployPutsTheInstanceInItsTargetGroup(t *testing.T) {
	srv := awsapi.New(nil)
	awsapi.Serve(t, srv)
	dir, _, arn := elbStack(t, srv)
	o, out := lifecycleOpts(t, dir, "shop")
	if err := deployRun(context.Background(), o); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	if got := srv.Targets(arn); len(got) != 1 || got[0] != (awsapi.Target{ID: "127.0.0.1", Port: 8080, State: awsapi.TargetHealthy}) {
		t.Fatalf("targets after the deploy: %+v\n%s", got, out)
	}
	for _, want := range []string{"elb.deregister", "elb.register", "target groups: deregister local and wait for draining"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	o, out = lifecycleOpts(t, dir, "shop")
	if err := undeployRun(context.Background(), o); err != nil {
		t.Fatalf("undeploy: %v\n%s", err, out)
	}
	if got := srv.Targets(arn); len(got) != 0 {
		t.Fatalf("targets after undeploy: %+v", got)
	}
}

// Without AWS credentials a stack with target groups stops before any
// host is touched: exit 1, one line that says what to do.
func TestDeployWithoutCredentials(t *testing.T) {
	srv := awsapi.New(nil)
	awsapi.Serve(t, srv)
	dir, root, _ := elbStack(t, srv)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	o, out := lifecycleOpts(t, dir, "shop")
	err := deployRun(context.Background(), o)
	if exitOf(err) != ExitError || !strings.Contains(err.Error(), "no AWS credentials") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("exit %d: %v", exitOf(err), err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("the host was touched: %v\n%s", err, out)
	}
}
