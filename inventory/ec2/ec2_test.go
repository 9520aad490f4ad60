package ec2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

var declRange = hcl.Range{Filename: "/stack/inventory.hcl", Start: hcl.Pos{Line: 7, Column: 1}}

// useEndpoint points the SDK's standard configuration at h, as
// testenv's aws.env does, with nothing read from the user's ~/.aws.
func useEndpoint(t *testing.T, h http.Handler) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	awsapi.Serve(t, awsapi.New(nil)) // for its environment
	t.Setenv("AWS_ENDPOINT_URL", ts.URL)
}

func inst(id, name, state, layers string, extra map[string]string) awsapi.Instance {
	tags := map[string]string{"stack": "prod"}
	if name != "" {
		tags["Name"] = name
	}
	if layers != "" {
		tags[DefaultLayerTag] = layers
	}
	for k, v := range extra {
		tags[k] = v
	}
	n := len(id)
	return awsapi.Instance{
		ID: id, State: state, Type: "t3.small", AvailabilityZone: "eu-west-1c",
		PrivateIP:  "10.0.0." + id[n-1:],
		PrivateDNS: "ip-10-0-0-" + id[n-1:] + ".eu-west-1.compute.internal",
		Tags:       tags, LaunchTime: time.Unix(0, 0),
	}
}

func names(hosts []*inventory.Host) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	return out
}

func TestResolveMapsInstancesToHosts(t *testing.T) {
	web := inst("i-0000000000000001", "web", "running", "web, app", map[string]string{SSHPortTag: "2201"})
	web.PublicIP = "203.0.113.1"
	srv := awsapi.New([]awsapi.Instance{
		web,
		inst("i-0000000000000002", "db", "running", "db", nil),
		inst("i-0000000000000003", "worker", "running", "worker", nil),
		inst("i-0000000000000004", "worker", "running", "worker", nil),
		inst("i-0000000000000005", "", "running", "cache", nil),
		inst("i-0000000000000006", "stopped", "stopped", "web", nil),
		inst("i-0000000000000007", "untagged", "running", "", nil),
		inst("i-0000000000000008", "other", "running", "web", map[string]string{"stack": "staging"}),
	})
	useEndpoint(t, srv)
	var logs bytes.Buffer
	cfg := Config{
		Filters:      map[string][]string{"tag:stack": {"prod"}},
		User:         "admin",
		IdentityFile: "/keys/id",
		Bastion:      "jump@bastion:2222",
		DeclRange:    declRange,
	}
	hosts, err := Resolve(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"db", "i-0000000000000003", "i-0000000000000004", "i-0000000000000005", "web"}
	if got := names(hosts); !slices.Equal(got, want) {
		t.Fatalf("hosts = %v, want %v (Name when unique, else the id; stopped, untagged and other-stack instances out)", got, want)
	}
	if !strings.Contains(logs.String(), "i-0000000000000007") || !strings.Contains(logs.String(), "opsrun:layer") || !strings.Contains(logs.String(), "inventory.hcl:7") {
		t.Errorf("the untagged instance is not logged with its reason and the block:\n%s", logs.String())
	}

	w := hosts[4]
	if w.Address != "10.0.0.1" || w.Port != 2201 || w.User != "admin" || !slices.Equal(w.Layers, []string{"web", "app"}) {
		t.Errorf("web = %+v", w)
	}
	if !slices.Equal(w.SSH.IdentityFiles, []string{"/keys/id"}) || w.SSH.ProxyJump != "jump@bastion:2222" || w.DeclRange != declRange {
		t.Errorf("web ssh = %+v, range %v", w.SSH, w.DeclRange)
	}
	if hosts[0].Port != DefaultPort {
		t.Errorf("db port = %d, want the default %d", hosts[0].Port, DefaultPort)
	}
	wantVars := cty.ObjectVal(map[string]cty.Value{
		"instance_id":       cty.StringVal("i-0000000000000001"),
		"instance_type":     cty.StringVal("t3.small"),
		"availability_zone": cty.StringVal("eu-west-1c"),
		"private_ip":        cty.StringVal("10.0.0.1"),
		"public_ip":         cty.StringVal("203.0.113.1"),
		"tags": cty.MapVal(map[string]cty.Value{
			"Name": cty.StringVal("web"), "stack": cty.StringVal("prod"),
			DefaultLayerTag: cty.StringVal("web, app"), SSHPortTag: cty.StringVal("2201"),
		}),
	})
	if got := cty.ObjectVal(w.Vars); !got.RawEquals(wantVars) {
		t.Errorf("vars = %#v\nwant %#v", got, wantVars)
	}
	if got := hosts[0].Vars["public_ip"]; !got.RawEquals(cty.StringVal("")) {
		t.Errorf("db public_ip = %#v, want empty", got)
	}
}

func TestResolveAddressChoices(t *testing.T) {
	withPublic := inst("i-0000000000000001", "a", "running", "web", nil)
	withPublic.PublicIP = "203.0.113.9"
	srv := awsapi.New([]awsapi.Instance{withPublic, inst("i-0000000000000002", "b", "running", "web", nil)})
	useEndpoint(t, srv)
	cases := []struct {
		address string
		want    map[string]string
	}{
		{AddressPrivateIP, map[string]string{"a": "10.0.0.1", "b": "10.0.0.2"}},
		{AddressPrivateDNS, map[string]string{"a": "ip-10-0-0-1.eu-west-1.compute.internal", "b": "ip-10-0-0-2.eu-west-1.compute.internal"}},
		{AddressPublicIP, map[string]string{"a": "203.0.113.9"}}, // b has none: skipped
	}
	for _, tc := range cases {
		hosts, err := Resolve(context.Background(), Config{Address: tc.address, DeclRange: declRange}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, h := range hosts {
			got[h.Name] = h.Address
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("address %s: %v, want %v", tc.address, got, tc.want)
		}
	}
}

func TestResolveWalksEveryPage(t *testing.T) {
	var all []awsapi.Instance
	for i := 0; i < 23; i++ {
		all = append(all, inst(fmt.Sprintf("i-%016x", i), fmt.Sprintf("h%02d", i), "running", "web", nil))
	}
	srv := awsapi.New(all)
	srv.PageSize = 5
	useEndpoint(t, srv)
	hosts, err := Resolve(context.Background(), Config{LayerTag: DefaultLayerTag, DeclRange: declRange}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 23 || hosts[0].Name != "h00" || hosts[22].Name != "h22" {
		t.Errorf("got %d hosts (%v), want all 23 over 5 pages", len(hosts), names(hosts))
	}
}

func TestResolveCustomLayerTagAndBadPortTag(t *testing.T) {
	srv := awsapi.New([]awsapi.Instance{
		inst("i-0000000000000001", "a", "running", "", map[string]string{"role": "lb"}),
		inst("i-0000000000000002", "b", "running", "", map[string]string{"role": "lb", SSHPortTag: "ssh"}),
	})
	useEndpoint(t, srv)
	var logs bytes.Buffer
	hosts, err := Resolve(context.Background(), Config{LayerTag: "role", DeclRange: declRange}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(hosts); !slices.Equal(got, []string{"a"}) || !slices.Equal(hosts[0].Layers, []string{"lb"}) {
		t.Errorf("hosts = %v", got)
	}
	if !strings.Contains(logs.String(), "not a port number") {
		t.Errorf("bad port tag not logged:\n%s", logs.String())
	}
}

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("endpoint error keeps the API error", func(t *testing.T) {
		useEndpoint(t, awsapi.New(nil))
		_, err := Resolve(ctx, Config{Filters: map[string][]string{"vpc-id": {"vpc-1"}}, DeclRange: declRange}, nil)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" {
			t.Fatalf("err = %v, want the endpoint's InvalidParameterValue", err)
		}
		checkLine(t, err, "/stack/inventory.hcl:7: inventory \"ec2\": DescribeInstances failed (InvalidParameterValue")
	})
	t.Run("access denied", func(t *testing.T) {
		useEndpoint(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>x</RequestID></Response>`)
		}))
		_, err := Resolve(ctx, Config{DeclRange: declRange}, nil)
		if !errors.Is(err, ErrAccessDenied) {
			t.Fatalf("err = %v, want ErrAccessDenied", err)
		}
		checkLine(t, err, "ec2:DescribeInstances")
	})
	t.Run("no credentials", func(t *testing.T) {
		useEndpoint(t, awsapi.New(nil))
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		_, err := Resolve(ctx, Config{DeclRange: declRange}, nil)
		if !errors.Is(err, ErrNoCredentials) {
			t.Fatalf("err = %v, want ErrNoCredentials", err)
		}
		checkLine(t, err, "AWS_ACCESS_KEY_ID")
	})
	t.Run("no region", func(t *testing.T) {
		useEndpoint(t, awsapi.New(nil))
		t.Setenv("AWS_REGION", "")
		_, err := Resolve(ctx, Config{DeclRange: declRange}, nil)
		if !errors.Is(err, ErrNoRegion) {
			t.Fatalf("err = %v, want ErrNoRegion", err)
		}
		checkLine(t, err, "AWS_REGION")
		// The block's own region is enough.
		if _, err := Resolve(ctx, Config{Region: "eu-west-3", DeclRange: declRange}, nil); err != nil {
			t.Errorf("with region in the block: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		useEndpoint(t, awsapi.New(nil))
		t.Setenv("AWS_ENDPOINT_URL", "http://"+addr)
		t.Setenv("AWS_MAX_ATTEMPTS", "1")
		_, err = Resolve(ctx, Config{DeclRange: declRange}, nil)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v, want ErrUnreachable", err)
		}
		checkLine(t, err, "AWS_ENDPOINT_URL")
	})
	t.Run("cancelled", func(t *testing.T) {
		useEndpoint(t, awsapi.New(nil))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := Resolve(cctx, Config{DeclRange: declRange}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// checkLine checks err is one line naming the block and containing want.
func checkLine(t *testing.T, err error, want string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("err %v is not an *Error", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "/stack/inventory.hcl:7: inventory \"ec2\": ") || !strings.Contains(msg, want) {
		t.Errorf("error = %q\nwant one line starting with the block's file:line and containing %q", msg, want)
	}
}
