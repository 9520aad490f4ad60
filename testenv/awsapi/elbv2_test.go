package awsapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// elbClient is the real SDK client, from its standard configuration,
// pointed at srv by Serve.
func elbClient(t *testing.T, srv *Server) *elbv2.Client {
	t.Helper()
	Serve(t, srv)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.RetryMaxAttempts = 1 })
}

// health describes the targets of arn (all when none are named) as
// "ID:PORT=STATE/REASON".
func health(t *testing.T, c *elbv2.Client, arn string, targets ...types.TargetDescription) []string {
	t.Helper()
	out, err := c.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range out.TargetHealthDescriptions {
		got = append(got, aws.ToString(d.Target.Id)+":"+strconv.Itoa(int(aws.ToInt32(d.Target.Port)))+"="+string(d.TargetHealth.State)+"/"+string(d.TargetHealth.Reason))
	}
	return got
}

func target(id string, port int32) types.TargetDescription {
	td := types.TargetDescription{Id: aws.String(id)}
	if port != 0 {
		td.Port = aws.Int32(port)
	}
	return td
}

func TestELBv2TargetStates(t *testing.T) {
	srv := New(nil)
	c := elbClient(t, srv)
	ctx := context.Background()
	arn := srv.AddTargetGroup("web", 8080, "instance")
	// Held in each passing state until the test moves on.
	if err := srv.SetTargetGroupConfig(arn, TargetGroupConfig{HealthyAfter: time.Hour, DeregistrationDelay: time.Hour}); err != nil {
		t.Fatal(err)
	}

	groups, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups.TargetGroups) != 1 {
		t.Fatalf("groups %+v", groups.TargetGroups)
	}
	g := groups.TargetGroups[0]
	if aws.ToString(g.TargetGroupArn) != arn || aws.ToString(g.TargetGroupName) != "web" || g.TargetType != types.TargetTypeEnumInstance || aws.ToInt32(g.Port) != 8080 {
		t.Fatalf("group %+v", g)
	}

	const id = "i-0123456789abcdef0"
	// No port: the group's.
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []types.TargetDescription{target(id, 0)}}); err != nil {
		t.Fatal(err)
	}
	if got := health(t, c, arn); len(got) != 1 || got[0] != id+":8080=initial/Elb.RegistrationInProgress" {
		t.Fatalf("after register: %v", got)
	}
	if got := srv.Targets(arn); len(got) != 1 || got[0] != (Target{ID: id, Port: 8080, State: TargetInitial}) {
		t.Fatalf("Targets: %+v", got)
	}
	if err := srv.SetTargetGroupConfig(arn, TargetGroupConfig{DeregistrationDelay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := health(t, c, arn, target(id, 8080)); len(got) != 1 || got[0] != id+":8080=healthy/" {
		t.Fatalf("after the health checks: %v", got)
	}
	// A group no load balancer uses: its targets are unused, as in ELB.
	if err := srv.SetTargetGroupConfig(arn, TargetGroupConfig{DeregistrationDelay: time.Hour, Unused: true}); err != nil {
		t.Fatal(err)
	}
	if got := health(t, c, arn); got[0] != id+":8080=unused/Target.NotInUse" {
		t.Fatalf("in an unused group: %v", got)
	}
	if err := srv.SetTargetGroupConfig(arn, TargetGroupConfig{DeregistrationDelay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetTargetUnhealthy(arn, id, true); err != nil {
		t.Fatal(err)
	}
	if got := health(t, c, arn, target(id, 8080)); got[0] != id+":8080=unhealthy/Target.FailedHealthChecks" {
		t.Fatalf("failing: %v", got)
	}

	// Deregistering another port leaves the target alone, as ELB does.
	if _, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []types.TargetDescription{target(id, 9090)}}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Targets(arn); len(got) != 1 || got[0].State != TargetUnhealthy {
		t.Fatalf("after deregistering another port: %+v", got)
	}
	if _, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []types.TargetDescription{target(id, 8080)}}); err != nil {
		t.Fatal(err)
	}
	if got := health(t, c, arn); len(got) != 1 || got[0] != id+":8080=draining/Target.DeregistrationInProgress" {
		t.Fatalf("after deregister: %v", got)
	}
	if err := srv.SetTargetGroupConfig(arn, TargetGroupConfig{}); err != nil {
		t.Fatal(err)
	}
	if got := health(t, c, arn); len(got) != 0 {
		t.Fatalf("after draining, still listed: %v", got)
	}
	if got := health(t, c, arn, target(id, 8080)); len(got) != 1 || got[0] != id+":8080=unused/Target.NotRegistered" {
		t.Fatalf("a named target that is gone: %v", got)
	}
	if got := srv.Targets(arn); len(got) != 0 {
		t.Fatalf("Targets after draining: %+v", got)
	}
}

// The SDK's own waiters see the states they wait for.
func TestELBv2Waiters(t *testing.T) {
	srv := New(nil)
	c := elbClient(t, srv)
	ctx := context.Background()
	arn := srv.AddTargetGroup("api", 80, "ip")
	if err := srv.SetTargetGroupConfig(arn, TargetGroupConfig{HealthyAfter: 50 * time.Millisecond, DeregistrationDelay: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	targets := []types.TargetDescription{target("10.0.0.7", 80), target("10.0.0.8", 80)}
	in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn), Targets: targets}
	fast := func(o *elbv2.TargetInServiceWaiterOptions) {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 10*time.Millisecond
	}
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targets}); err != nil {
		t.Fatal(err)
	}
	if err := elbv2.NewTargetInServiceWaiter(c, fast).Wait(ctx, in, time.Minute); err != nil {
		t.Fatalf("in service: %v", err)
	}
	for _, tg := range srv.Targets(arn) {
		if tg.State != TargetHealthy {
			t.Errorf("after the in-service waiter: %+v", tg)
		}
	}
	if _, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targets}); err != nil {
		t.Fatal(err)
	}
	err := elbv2.NewTargetDeregisteredWaiter(c, func(o *elbv2.TargetDeregisteredWaiterOptions) {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 10*time.Millisecond
	}).Wait(ctx, in, time.Minute)
	if err != nil {
		t.Fatalf("deregistered: %v", err)
	}
	if got := srv.Targets(arn); len(got) != 0 {
		t.Errorf("the deregistered waiter returned while targets remain: %+v", got)
	}
}

func TestELBv2Errors(t *testing.T) {
	srv := New(nil)
	c := elbClient(t, srv)
	ctx := context.Background()
	ipGroup := srv.AddTargetGroup("ips", 80, "ip")
	instGroup := srv.AddTargetGroup("instances", 80, "instance")
	missing := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef"

	code := func(err error) string {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("not an API error: %v", err)
		}
		return ae.ErrorCode()
	}
	_, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{ipGroup, missing}})
	var notFound *types.TargetGroupNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("describe a missing group: %v", err)
	}
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(missing), Targets: []types.TargetDescription{target("10.0.0.1", 0)}}); code(err) != "TargetGroupNotFound" {
		t.Errorf("register in a missing group: %v", err)
	}
	if _, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(missing)}); code(err) != "TargetGroupNotFound" {
		t.Errorf("health of a missing group: %v", err)
	}
	var invalid *types.InvalidTargetException
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(ipGroup), Targets: []types.TargetDescription{target("i-0123456789abcdef0", 0)}}); !errors.As(err, &invalid) {
		t.Errorf("an instance id in an ip group: %v", err)
	}
	if _, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(instGroup), Targets: []types.TargetDescription{target("10.0.0.1", 0)}}); code(err) != "InvalidTarget" {
		t.Errorf("an address in an instance group: %v", err)
	}
	if got := srv.Targets(instGroup); len(got) != 0 {
		t.Errorf("a refused target was registered: %+v", got)
	}
	// An operation the endpoint does not implement says so.
	if _, err := c.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); code(err) != "InvalidAction" || !strings.Contains(err.Error(), "DescribeLoadBalancers") {
		t.Errorf("an unimplemented operation: %v", err)
	}
	if err := srv.SetTargetGroupConfig(missing, TargetGroupConfig{}); err == nil {
		t.Error("the config of a missing group accepted")
	}
	if err := srv.SetTargetUnhealthy(ipGroup, "10.0.0.9", true); err == nil {
		t.Error("a target that is not registered made unhealthy")
	}
}

func TestELBv2DescribeTargetGroupsPages(t *testing.T) {
	srv := New(nil)
	c := elbClient(t, srv)
	var want []string
	for _, name := range []string{"a", "b", "c"} {
		want = append(want, srv.AddTargetGroup(name, 80, "instance"))
	}
	p := elbv2.NewDescribeTargetGroupsPaginator(c, &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(2)})
	var got []string
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range page.TargetGroups {
			got = append(got, aws.ToString(g.TargetGroupArn))
		}
	}
	if pages != 2 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%d pages: %v, want %v", pages, got, want)
	}
	out, err := c.DescribeTargetGroups(context.Background(), &elbv2.DescribeTargetGroupsInput{Names: []string{"b"}})
	if err != nil || len(out.TargetGroups) != 1 || aws.ToString(out.TargetGroups[0].TargetGroupArn) != want[1] {
		t.Errorf("by name: %+v %v", out, err)
	}
}

// The answers are ELBv2's XML: the namespace, the result element, the
// request id; errors as ErrorResponse with Type Sender.
func TestELBv2WireShapes(t *testing.T) {
	srv := New(nil)
	url := Serve(t, srv)
	arn := srv.AddTargetGroup("web", 80, "instance")
	post := func(form string) (int, string) {
		t.Helper()
		resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	status, body := post("Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=" + arn + "&Targets.member.1.Id=i-0123456789abcdef0")
	if status != 200 || !strings.Contains(body, `<RegisterTargetsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><RegisterTargetsResult></RegisterTargetsResult><ResponseMetadata><RequestId>`) {
		t.Errorf("register: %d %s", status, body)
	}
	status, body = post("Action=Nope&Version=2015-12-01")
	if status != 400 || !strings.Contains(body, `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>`) || !strings.Contains(body, "</Error><RequestId>") {
		t.Errorf("unknown action: %d %s", status, body)
	}
	// EC2's version still reaches EC2.
	status, body = post("Action=Nope&Version=" + EC2Version)
	if status != 400 || !strings.Contains(body, "<Response><Errors><Error><Code>InvalidAction</Code>") {
		t.Errorf("EC2 request: %d %s", status, body)
	}
}
