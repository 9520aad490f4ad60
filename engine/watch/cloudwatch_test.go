package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

// endpoint starts the local AWS endpoint and points the SDK's standard
// configuration at it through the environment, as aws.env does.
func endpoint(t *testing.T) *awsapi.Server {
	srv := awsapi.New(nil)
	awsapi.Serve(t, srv)
	return srv
}

// round makes n answered instances in layer web, the first with an EC2
// instance id, and one unreachable one.
func round(n int) []Result {
	var res []Result
	for i := range n {
		h := &inventory.Host{Name: fmt.Sprintf("web-%d", i+1), Layers: []string{"web"}}
		if i == 0 {
			h.Vars = map[string]cty.Value{"instance_id": cty.StringVal("i-0abc")}
		}
		res = append(res, Result{Host: h, Metrics: Metrics{CPUIdle: 90, Load1: 0.5, MemoryTotal: 2048000, Procs: float64(100 + i)}})
	}
	return append(res, Result{Host: &inventory.Host{Name: "down", Layers: []string{"web"}}, Err: errors.New("down: unreachable")})
}

func TestPushToCloudWatch(t *testing.T) {
	srv := endpoint(t)
	ctx := context.Background()
	client, err := NewCloudWatchClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := round(2)
	at := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	n, err := Push(ctx, client, CloudWatchDatums("shop", res, Aggregate(res), at))
	if err != nil || n != 1 {
		t.Fatalf("%d requests, %v", n, err)
	}
	reqs := srv.PutMetricDataRequests()
	if len(reqs) != 1 || len(reqs[0]) != 3*15 {
		t.Fatalf("got %d requests, want 1 of 45 datums (2 instances, 1 layer)", len(reqs))
	}
	names := map[string]map[string]bool{} // instance (or layer:NAME) -> metric names
	for _, d := range reqs[0] {
		if d.Namespace != "OpsRun" || d.Dimensions["stack"] != "shop" || d.Dimensions["layer"] != "web" || !d.Timestamp.Equal(at) {
			t.Fatalf("datum %+v", d)
		}
		key := d.Dimensions["instance"]
		if key == "" {
			key = "layer:web"
			if len(d.Dimensions) != 2 {
				t.Errorf("layer datum dimensions %v, want stack and layer", d.Dimensions)
			}
		}
		if names[key] == nil {
			names[key] = map[string]bool{}
		}
		names[key][d.MetricName] = true
		switch {
		case d.MetricName == "memory_total" && (d.Value != 2048000 || d.Unit != "Kilobytes"),
			d.MetricName == "cpu_idle" && (d.Value != 90 || d.Unit != "Percent"),
			d.MetricName == "procs" && key == "layer:web" && d.Value != 100.5:
			t.Errorf("datum %+v", d)
		}
	}
	if len(names) != 3 || len(names["i-0abc"]) != 15 || len(names["web-2"]) != 15 || len(names["layer:web"]) != 15 {
		t.Errorf("want 15 metric names for i-0abc (instance id), web-2 (no id: host name) and the layer: %v", names)
	}
}

func TestPushBatches(t *testing.T) {
	srv := endpoint(t)
	ctx := context.Background()
	client, err := NewCloudWatchClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := round(70) // 70*15 + 15 for the layer = 1065 datums
	n, err := Push(ctx, client, CloudWatchDatums("shop", res, Aggregate(res), time.Now()))
	if err != nil || n != 2 {
		t.Fatalf("%d requests, %v; want 2", n, err)
	}
	reqs := srv.PutMetricDataRequests()
	if len(reqs) != 2 || len(reqs[0]) != MaxDatumsPerRequest || len(reqs[1]) != 65 {
		t.Errorf("request sizes: %d requests", len(reqs))
		for _, r := range reqs {
			t.Errorf("  %d datums", len(r))
		}
	}
}

func TestNewCloudWatchClientNeedsRegionAndCredentials(t *testing.T) {
	endpoint(t)
	t.Setenv("AWS_REGION", "")
	if _, err := NewCloudWatchClient(context.Background()); !errors.Is(err, ErrCloudWatch) || !strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("err %v, want ErrCloudWatch saying to set a region", err)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := NewCloudWatchClient(context.Background()); !errors.Is(err, ErrCloudWatch) || !strings.Contains(err.Error(), "no AWS credentials") {
		t.Errorf("err %v, want ErrCloudWatch saying to configure credentials", err)
	}
}

func TestPushStopsAtFirstError(t *testing.T) {
	endpoint(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	ctx := context.Background()
	client, err := NewCloudWatchClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := round(1)
	n, err := Push(ctx, client, CloudWatchDatums("shop", res, nil, time.Now()))
	if n != 0 || !errors.Is(err, ErrCloudWatch) {
		t.Errorf("%d requests, %v", n, err)
	}
}

func TestCloudWatchDatumsLayerless(t *testing.T) {
	res := []Result{{Host: &inventory.Host{Name: "solo", Vars: map[string]cty.Value{"instance_id": cty.StringVal("")}}, Metrics: Metrics{Procs: 3}}}
	ds := CloudWatchDatums("s", res, Aggregate(res), time.Now())
	if len(ds) != 15 {
		t.Fatalf("%d datums", len(ds))
	}
	for _, d := range ds {
		if len(d.Dimensions) != 2 || *d.Dimensions[0].Name != "stack" || *d.Dimensions[1].Name != "instance" || *d.Dimensions[1].Value != "solo" {
			t.Fatalf("a host in no layer: dimensions stack and instance (its name, the id being empty), got %+v", d.Dimensions)
		}
	}
}
