package elb

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/inventory/awsconfig"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// The tests run the real SDK, from its standard configuration, against
// the local endpoint (testenv/awsapi).

const instanceID = "i-0123456789abcdef0"

func ec2Host(name, id string) *inventory.Host {
	return &inventory.Host{Name: name, Address: "127.0.0.1", Vars: map[string]cty.Value{"instance_id": cty.StringVal(id)}}
}

func staticHost(name, addr string) *inventory.Host {
	return &inventory.Host{Name: name, Address: addr}
}

// balancer serves srv and builds a Balancer the way opsrun does, polling
// fast and giving up after maxWait.
func balancer(t *testing.T, srv *awsapi.Server, maxWait time.Duration) *Balancer {
	t.Helper()
	awsapi.Serve(t, srv)
	b, err := New(context.Background(), nil, Options{Poll: 5 * time.Millisecond, MaxWait: maxWait})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setConfig(t *testing.T, srv *awsapi.Server, arn string, c awsapi.TargetGroupConfig) {
	t.Helper()
	if err := srv.SetTargetGroupConfig(arn, c); err != nil {
		t.Fatal(err)
	}
}

func TestInstanceTargetsRegisterAndDrain(t *testing.T) {
	srv := awsapi.New(nil)
	web := srv.AddTargetGroup("web", 8080, "instance")
	api := srv.AddTargetGroup("api", 9000, "instance")
	b := balancer(t, srv, time.Minute)
	ctx := context.Background()
	h := ec2Host("app-1", instanceID)
	both := []string{web, api}

	setConfig(t, srv, web, awsapi.TargetGroupConfig{HealthyAfter: 30 * time.Millisecond})
	if err := b.Register(ctx, h, both); err != nil {
		t.Fatal(err)
	}
	// Register returned once the target was healthy in both groups, on
	// each group's port.
	for arn, port := range map[string]int{web: 8080, api: 9000} {
		if got := srv.Targets(arn); len(got) != 1 || got[0] != (awsapi.Target{ID: instanceID, Port: port, State: awsapi.TargetHealthy}) {
			t.Errorf("%s after Register: %+v", arn, got)
		}
	}

	setConfig(t, srv, web, awsapi.TargetGroupConfig{DeregistrationDelay: 30 * time.Millisecond})
	setConfig(t, srv, api, awsapi.TargetGroupConfig{DeregistrationDelay: 30 * time.Millisecond})
	if err := b.Deregister(ctx, h, both); err != nil {
		t.Fatal(err)
	}
	// Deregister returned once draining ended: nothing is left draining.
	for _, arn := range both {
		if got := srv.Targets(arn); len(got) != 0 {
			t.Errorf("%s after Deregister: %+v", arn, got)
		}
	}
	// Deregistering what is not registered is a quick no-op.
	if err := b.Deregister(ctx, h, both); err != nil {
		t.Fatal(err)
	}
	// So is deregistering a target ELB does not know (InvalidTarget: an
	// instance that is gone), which must not keep a departed host forever.
	if err := b.Deregister(ctx, ec2Host("app-9", "i-gone"), both); err != nil {
		t.Fatalf("an unknown target: %v", err)
	}
	// Registering one is an error.
	if err := b.Register(ctx, ec2Host("app-9", "i-gone"), both); err == nil || !strings.Contains(err.Error(), "InvalidTarget") {
		t.Fatalf("registering an unknown target: %v", err)
	}
}

func TestIPTargets(t *testing.T) {
	srv := awsapi.New(nil)
	arn := srv.AddTargetGroup("static", 80, "ip")
	b := balancer(t, srv, time.Minute)
	ctx := context.Background()
	// A static host is its address; an EC2 instance its private IP.
	static := staticHost("web-1", "10.0.0.5")
	inst := ec2Host("web-2", instanceID)
	inst.Vars["private_ip"] = cty.StringVal("10.0.0.6")
	for _, h := range []*inventory.Host{static, inst} {
		if err := b.Register(ctx, h, []string{arn}); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Targets(arn)
	if len(got) != 2 || got[0].ID != "10.0.0.5" || got[1].ID != "10.0.0.6" || got[0].Port != 80 || got[0].State != awsapi.TargetHealthy {
		t.Fatalf("targets %+v", got)
	}
	if err := b.Deregister(ctx, static, []string{arn}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Targets(arn); len(got) != 1 || got[0].ID != "10.0.0.6" {
		t.Fatalf("after deregistering web-1: %+v", got)
	}
}

func TestHostsThatCannotBeTargets(t *testing.T) {
	srv := awsapi.New(nil)
	inst := srv.AddTargetGroup("web", 80, "instance")
	ip := srv.AddTargetGroup("ips", 80, "ip")
	lambda := srv.AddTargetGroup("fn", 0, "lambda")
	b := balancer(t, srv, time.Minute)
	for _, c := range []struct {
		h    *inventory.Host
		arn  string
		want string
	}{
		{staticHost("db-1", "10.0.0.9"), inst, "db-1 has no instance id (host var instance_id"},
		{staticHost("db-2", "db-2.internal"), ip, `db-2 is reached at "db-2.internal"`},
		{ec2Host("app-1", instanceID), lambda, "target type is lambda, which holds no hosts"},
	} {
		err := b.Register(context.Background(), c.h, []string{c.arn})
		var e *Error
		if !errors.Is(err, ErrNotTarget) || !errors.As(err, &e) || e.Host != c.h.Name || e.TargetGroup != c.arn || e.Op != "register" ||
			!strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.arn) {
			t.Errorf("%s in %s: %v", c.h.Name, c.arn, err)
		}
		if got := srv.Targets(c.arn); len(got) != 0 {
			t.Errorf("%s registered anyway: %+v", c.h.Name, got)
		}
	}
}

// A wait that does not end in MaxWait fails with ErrTimeout, naming the
// host, the group and what the target was last seen doing.
func TestWaitsTimeOut(t *testing.T) {
	srv := awsapi.New(nil)
	arn := srv.AddTargetGroup("web", 80, "instance")
	b := balancer(t, srv, 50*time.Millisecond)
	ctx := context.Background()
	h := ec2Host("app-1", instanceID)

	setConfig(t, srv, arn, awsapi.TargetGroupConfig{HealthyAfter: time.Hour})
	err := b.Register(ctx, h, []string{arn})
	var e *Error
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &e) || e.Host != "app-1" || e.TargetGroup != arn ||
		!strings.Contains(err.Error(), "did not pass the group's health checks within 50ms (last seen initial (Elb.RegistrationInProgress") {
		t.Fatalf("register that never gets healthy: %v", err)
	}

	setConfig(t, srv, arn, awsapi.TargetGroupConfig{DeregistrationDelay: time.Hour})
	err = b.Deregister(ctx, h, []string{arn})
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &e) || e.Op != "deregister" || !strings.Contains(err.Error(), "did not drain within 50ms (last seen draining") {
		t.Fatalf("deregister that never drains: %v", err)
	}
	if got := srv.Targets(arn); len(got) != 1 || got[0].State != awsapi.TargetDraining {
		t.Fatalf("targets %+v", got)
	}
}

func TestUnhealthyAndUnusedTargets(t *testing.T) {
	srv := awsapi.New(nil)
	arn := srv.AddTargetGroup("web", 80, "instance")
	b := balancer(t, srv, 50*time.Millisecond)
	ctx := context.Background()
	h := ec2Host("app-1", instanceID)
	if err := b.Register(ctx, h, []string{arn}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetTargetUnhealthy(arn, instanceID, true); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(ctx, h, []string{arn}); !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "last seen unhealthy (Target.FailedHealthChecks") {
		t.Fatalf("an unhealthy target: %v", err)
	}
	// A group no load balancer uses will never make it healthy: said at
	// once, not after MaxWait.
	setConfig(t, srv, arn, awsapi.TargetGroupConfig{Unused: true})
	slow := balancer(t, srv, time.Hour)
	err := slow.Register(ctx, h, []string{arn})
	if !errors.Is(err, ErrNotInService) || !strings.Contains(err.Error(), "Target.NotInUse") {
		t.Fatalf("an unused group: %v", err)
	}
}

func TestAPIErrorsKeepTheirIdentity(t *testing.T) {
	srv := awsapi.New(nil)
	b := balancer(t, srv, time.Minute)
	missing := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef"
	err := b.Deregister(context.Background(), ec2Host("app-1", instanceID), []string{missing})
	var nf *types.TargetGroupNotFoundException
	var e *Error
	if !errors.As(err, &nf) || !errors.As(err, &e) || e.Host != "app-1" || e.TargetGroup != missing {
		t.Fatalf("a missing group: %v", err)
	}
}

// Each group's calls go to the region its ARN names, whatever the
// default region.
func TestRegionFromTheARN(t *testing.T) {
	srv := awsapi.New(nil)
	arn := srv.AddTargetGroup("web", 80, "instance")
	awsapi.Serve(t, srv)
	var mu sync.Mutex
	var scopes []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		// Credential=AKID/20260101/REGION/elasticloadbalancing/aws4_request
		if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
			parts := strings.Split(cred, "/")
			if len(parts) > 3 {
				scopes = append(scopes, parts[2]+"/"+parts[3])
			}
		}
		mu.Unlock()
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	t.Setenv("AWS_ENDPOINT_URL", ts.URL)
	t.Setenv("AWS_REGION", "eu-west-3")
	b, err := New(context.Background(), []string{arn}, Options{Poll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Register(context.Background(), ec2Host("app-1", instanceID), []string{arn}); err != nil {
		t.Fatal(err)
	}
	if len(scopes) < 3 {
		t.Fatalf("requests signed for %v", scopes)
	}
	for _, s := range scopes {
		if s != awsapi.DefaultRegion+"/elasticloadbalancing" {
			t.Errorf("a request signed for %s, want the ARN's region %s", s, awsapi.DefaultRegion)
		}
	}
}

func TestNewChecksTheConfiguration(t *testing.T) {
	srv := awsapi.New(nil)
	arn := srv.AddTargetGroup("web", 80, "instance")
	awsapi.Serve(t, srv)
	// No default region: the groups' ARNs name theirs.
	t.Setenv("AWS_REGION", "")
	b, err := New(context.Background(), []string{arn}, Options{Poll: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("no default region: %v", err)
	}
	if err := b.Register(context.Background(), ec2Host("app-1", instanceID), []string{arn}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), []string{"targetgroup/web"}, Options{}); err == nil || !strings.Contains(err.Error(), "not a target group ARN") {
		t.Errorf("a malformed ARN: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err = New(context.Background(), []string{arn}, Options{})
	if !errors.Is(err, awsconfig.ErrNoCredentials) || !strings.Contains(err.Error(), "aws configure") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("no credentials: %v", err)
	}
}
