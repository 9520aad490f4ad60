package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/opsrun/opsrun/testenv"
)

// client is the real SDK client pointed at srv.
func client(t *testing.T, srv *Server) *ec2.Client {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ec2.NewFromConfig(aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:  ts.Client(),
	}, func(o *ec2.Options) {
		o.BaseEndpoint = aws.String(ts.URL)
		o.RetryMaxAttempts = 1
	})
}

// fleetOf returns n instances web-0..web-(n-1), every third one stopped,
// the even ones tagged tier=front.
func fleetOf(n int) []Instance {
	launched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out []Instance
	for i := 0; i < n; i++ {
		state := "running"
		if i%3 == 2 {
			state = "stopped"
		}
		tags := map[string]string{"Name": fmt.Sprintf("web-%d", i), "stack": "prod"}
		if i%2 == 0 {
			tags["tier"] = "front"
		}
		out = append(out, Instance{
			ID:               fmt.Sprintf("i-%017x", i+1),
			State:            state,
			Type:             "t3.micro",
			AvailabilityZone: "eu-west-1b",
			PrivateIP:        fmt.Sprintf("10.0.0.%d", i+10),
			PublicIP:         fmt.Sprintf("203.0.113.%d", i+10),
			PrivateDNS:       fmt.Sprintf("ip-10-0-0-%d.eu-west-1.compute.internal", i+10),
			Tags:             tags,
			LaunchTime:       launched,
		})
	}
	return out
}

// describeAll walks every page with the SDK's paginator and returns the
// instance ids in order and the number of pages.
func describeAll(t *testing.T, c *ec2.Client, in *ec2.DescribeInstancesInput) ([]string, int) {
	t.Helper()
	var ids []string
	pages := 0
	p := ec2.NewDescribeInstancesPaginator(c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("NextPage: %v", err)
		}
		pages++
		for _, r := range out.Reservations {
			for _, inst := range r.Instances {
				ids = append(ids, aws.ToString(inst.InstanceId))
			}
		}
	}
	return ids, pages
}

func TestDescribeInstancesDecodesEveryField(t *testing.T) {
	c := client(t, New(fleetOf(1)))
	out, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("reservations = %+v", out.Reservations)
	}
	got := out.Reservations[0].Instances[0]
	checks := map[string][2]string{
		"id":          {aws.ToString(got.InstanceId), "i-00000000000000001"},
		"state":       {string(got.State.Name), "running"},
		"state code":  {fmt.Sprint(aws.ToInt32(got.State.Code)), "16"},
		"type":        {string(got.InstanceType), "t3.micro"},
		"az":          {aws.ToString(got.Placement.AvailabilityZone), "eu-west-1b"},
		"private ip":  {aws.ToString(got.PrivateIpAddress), "10.0.0.10"},
		"public ip":   {aws.ToString(got.PublicIpAddress), "203.0.113.10"},
		"private dns": {aws.ToString(got.PrivateDnsName), "ip-10-0-0-10.eu-west-1.compute.internal"},
		"launch":      {aws.ToTime(got.LaunchTime).UTC().Format(time.RFC3339), "2026-01-02T03:04:05Z"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	tags := map[string]string{}
	for _, tg := range got.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if tags["Name"] != "web-0" || tags["stack"] != "prod" || tags["tier"] != "front" || len(tags) != 3 {
		t.Errorf("tags = %v", tags)
	}
}

func TestDescribeInstancesPaginatesWithMaxResults(t *testing.T) {
	c := client(t, New(fleetOf(12)))
	ids, pages := describeAll(t, c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	if pages != 3 {
		t.Errorf("pages = %d, want 3 (5+5+2)", pages)
	}
	if len(ids) != 12 {
		t.Fatalf("got %d instances over all pages, want 12: %v", len(ids), ids)
	}
	for i, id := range ids {
		if want := fmt.Sprintf("i-%017x", i+1); id != want {
			t.Errorf("ids[%d] = %s, want %s (order must be stable across pages)", i, id, want)
		}
	}
}

func TestDescribeInstancesPaginatesUnasked(t *testing.T) {
	srv := New(fleetOf(7))
	srv.PageSize = 2
	ids, pages := describeAll(t, client(t, srv), &ec2.DescribeInstancesInput{})
	if pages != 4 || len(ids) != 7 {
		t.Errorf("pages = %d, instances = %d; want 4 pages, 7 instances", pages, len(ids))
	}
}

func TestDescribeInstancesFilters(t *testing.T) {
	c := client(t, New(fleetOf(9)))
	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	cases := []struct {
		name    string
		filters []types.Filter
		ids     []string
		want    []int // instance numbers (1-based)
	}{
		{name: "tag value", filters: []types.Filter{f("tag:tier", "front")}, want: []int{1, 3, 5, 7, 9}},
		{name: "tag value glob", filters: []types.Filter{f("tag:Name", "web-1*", "web-?")}, want: []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{name: "tag value glob narrow", filters: []types.Filter{f("tag:Name", "web-[1]", "web-?1")}, want: nil},
		{name: "tag key", filters: []types.Filter{f("tag-key", "tier")}, want: []int{1, 3, 5, 7, 9}},
		{name: "state", filters: []types.Filter{f("instance-state-name", "running")}, want: []int{1, 2, 4, 5, 7, 8}},
		{name: "filters AND, values OR", filters: []types.Filter{f("instance-state-name", "running"), f("tag:tier", "front", "back")}, want: []int{1, 5, 7}},
		{name: "instance-id", filters: []types.Filter{f("instance-id", "i-00000000000000002", "i-00000000000000004")}, want: []int{2, 4}},
		{name: "missing tag", filters: []types.Filter{f("tag:nope", "*")}, want: nil},
		{name: "ids", ids: []string{"i-00000000000000008", "i-00000000000000003"}, want: []int{8, 3}},
		{name: "ids and filter", ids: []string{"i-00000000000000008", "i-00000000000000003"}, filters: []types.Filter{f("instance-state-name", "stopped")}, want: []int{3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ids, _ := describeAll(t, c, &ec2.DescribeInstancesInput{Filters: tc.filters, InstanceIds: tc.ids})
			var want []string
			for _, n := range tc.want {
				want = append(want, fmt.Sprintf("i-%017x", n))
			}
			if !slices.Equal(ids, want) {
				t.Errorf("ids = %v, want %v", ids, want)
			}
		})
	}
}

// apiCode calls DescribeInstances and returns the AWS error code.
func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an AWS API error", err, err)
	}
	return ae.ErrorCode()
}

func TestDescribeInstancesErrors(t *testing.T) {
	c := client(t, New(fleetOf(3)))
	ctx := context.Background()
	cases := []struct {
		name string
		in   *ec2.DescribeInstancesInput
		code string
		msg  string
	}{
		{"unsupported filter", &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{"vpc-1"}}}}, "InvalidParameterValue", "vpc-id"},
		{"unknown id", &ec2.DescribeInstancesInput{InstanceIds: []string{"i-00000000000000001", "i-deadbeef"}}, "InvalidInstanceID.NotFound", "i-deadbeef"},
		{"max results too small", &ec2.DescribeInstancesInput{MaxResults: aws.Int32(2)}, "InvalidParameterValue", "maxResults"},
		{"max results with ids", &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), InstanceIds: []string{"i-00000000000000001"}}, "InvalidParameterCombination", "maxResults"},
		{"bad token", &ec2.DescribeInstancesInput{NextToken: aws.String("garbage!")}, "InvalidParameterValue", "NextToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.DescribeInstances(ctx, tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			if got := apiCode(t, err); got != tc.code {
				t.Errorf("code = %s, want %s (%v)", got, tc.code, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestUnknownActionIsInvalidAction(t *testing.T) {
	c := client(t, New(fleetOf(1)))
	_, err := c.RebootInstances(context.Background(), &ec2.RebootInstancesInput{InstanceIds: []string{"i-00000000000000001"}})
	if err == nil {
		t.Fatal("RebootInstances succeeded against an endpoint that does not implement it")
	}
	if got := apiCode(t, err); got != "InvalidAction" {
		t.Errorf("code = %s, want InvalidAction (%v)", got, err)
	}
	if !strings.Contains(err.Error(), "RebootInstances") || !strings.Contains(err.Error(), "TerminateInstances") {
		t.Errorf("error %q does not name the action and the implemented ones", err)
	}
}

func TestRawRequests(t *testing.T) {
	ts := httptest.NewServer(New(nil))
	defer ts.Close()
	cases := []struct {
		name string
		form url.Values
		want string
	}{
		{"no action", url.Values{"Version": {EC2Version}}, "<Code>MissingAction</Code>"},
		{"wrong version", url.Values{"Action": {"DescribeInstances"}, "Version": {"2010-01-01"}}, "<Code>InvalidParameterValue</Code>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.PostForm(ts.URL, tc.form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), tc.want) || !strings.Contains(string(b), "<Response><Errors><Error>") {
				t.Errorf("status %d body %s; want 400 with %s", resp.StatusCode, b, tc.want)
			}
		})
	}
}

func TestFleetInstances(t *testing.T) {
	f := &testenv.Fleet{Name: "demo", Hosts: []testenv.Host{
		{Name: "web1", Address: "127.0.0.1", Port: 32801, InternalIP: "172.20.0.2", Layers: []string{"web", "app"}},
		{Name: "db1", Address: "172.20.0.3", Port: 22, InternalIP: "172.20.0.3", Layers: []string{"db"}},
	}}
	launched := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	insts := FleetInstances(f, "us-east-1", launched)
	if len(insts) != 2 {
		t.Fatalf("got %d instances", len(insts))
	}
	web, db := insts[0], insts[1]
	if web.Tags["Name"] != "web1" || web.Tags[TagLayer] != "web,app" || web.Tags[TagStack] != "demo" || web.Tags[TagSSHPort] != "32801" {
		t.Errorf("web tags = %v", web.Tags)
	}
	if web.PublicIP != "127.0.0.1" || web.PrivateIP != "172.20.0.2" || web.PrivateDNS != "ip-172-20-0-2.ec2.internal" || web.AvailabilityZone != "us-east-1a" || web.State != "running" {
		t.Errorf("web = %+v", web)
	}
	if db.PublicIP != "" || db.Tags[TagSSHPort] != "" {
		t.Errorf("host behind the bastion got public reachability: %+v", db)
	}
	if !strings.HasPrefix(web.ID, "i-") || len(web.ID) != 19 || web.ID == db.ID {
		t.Errorf("ids %s, %s: want distinct i- + 17 hex", web.ID, db.ID)
	}
	if again := FleetInstances(f, "us-east-1", launched); again[0].ID != web.ID {
		t.Errorf("ids not stable: %s then %s", web.ID, again[0].ID)
	}
	if got := privateDNS("10.1.2.3", "eu-west-1"); got != "ip-10-1-2-3.eu-west-1.compute.internal" {
		t.Errorf("privateDNS = %s", got)
	}

	// Through the SDK: the fleet's layer filter finds the web host.
	ids, _ := describeAll(t, client(t, New(insts)), &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + TagLayer), Values: []string{"*web*"}},
	}})
	if !slices.Equal(ids, []string{web.ID}) {
		t.Errorf("ids = %v, want [%s]", ids, web.ID)
	}
}
