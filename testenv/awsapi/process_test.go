package awsapi

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/opsrun/opsrun/testenv"
)

// fleetDir writes a fleet.json for a two-host fleet, as testenv up does.
func fleetDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	f := testenv.Fleet{Name: "awsdemo", Dir: dir, Hosts: []testenv.Host{
		{Name: "web-1", Address: "127.0.0.1", Port: 40001, InternalIP: "172.30.0.2", Layers: []string{"web"}},
		{Name: "db-1", Address: "127.0.0.1", Port: 40002, InternalIP: "172.30.0.3", Layers: []string{"db"}},
	}}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, testenv.FleetFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return env
}

func TestRunFleetEndpoint(t *testing.T) {
	dir := fleetDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan error, 1)
	go func() { exited <- RunFleetEndpoint(ctx, dir, "127.0.0.1:0", nil) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := WaitForEndpoint(wctx, dir, exited); err != nil {
		t.Fatal(err)
	}
	env := readEnv(t, filepath.Join(dir, EnvFile))
	if env["AWS_REGION"] != DefaultRegion || env["AWS_ACCESS_KEY_ID"] != AccessKeyID || env["AWS_SECRET_ACCESS_KEY"] != SecretAccessKey || !strings.HasPrefix(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:") {
		t.Fatalf("aws.env = %v", env)
	}
	pid, _ := os.ReadFile(filepath.Join(dir, PIDFile))
	if strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pid file = %q", pid)
	}

	c := ec2.NewFromConfig(aws.Config{
		Region:      env["AWS_REGION"],
		Credentials: credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
	}, func(o *ec2.Options) { o.BaseEndpoint = aws.String(env["AWS_ENDPOINT_URL"]) })
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 2 || aws.ToString(out.Reservations[1].Instances[0].PrivateIpAddress) != "172.30.0.3" {
		t.Errorf("reservations = %+v", out.Reservations)
	}

	cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("endpoint returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("endpoint did not stop when its context ended")
	}
	for _, n := range []string{EnvFile, PIDFile} {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", n, err)
		}
	}
}

func TestRunFleetEndpointWithoutFleet(t *testing.T) {
	if err := RunFleetEndpoint(context.Background(), t.TempDir(), "127.0.0.1:0", nil); err == nil || !strings.Contains(err.Error(), "load fleet") {
		t.Errorf("err = %v, want the fleet load error", err)
	}
}

func TestStopFleetEndpointLeavesOtherProcesses(t *testing.T) {
	dir := t.TempDir()
	// A stale pid file naming this test process: not an endpoint, so it
	// must not be signalled, only the files removed.
	for n, data := range map[string]string{PIDFile: strconv.Itoa(os.Getpid()), EnvFile: "AWS_REGION=x\n", LogFile: "log\n"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := StopFleetEndpoint(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
	// Nothing recorded: nothing to do.
	if err := StopFleetEndpoint(context.Background(), dir); err != nil {
		t.Errorf("second stop: %v", err)
	}
}
