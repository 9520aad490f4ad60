package awsapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
)

// cloudWatchClient is the real SDK client, from its standard
// configuration, pointed at srv by Serve.
func cloudWatchClient(t *testing.T, srv *Server) *cloudwatch.Client {
	t.Helper()
	Serve(t, srv)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 })
}

func datum(name string, v float64, dims ...string) types.MetricDatum {
	d := types.MetricDatum{MetricName: aws.String(name), Value: aws.Float64(v), Unit: types.StandardUnitPercent}
	for i := 0; i+1 < len(dims); i += 2 {
		d.Dimensions = append(d.Dimensions, types.Dimension{Name: aws.String(dims[i]), Value: aws.String(dims[i+1])})
	}
	return d
}

func TestPutMetricDataRecordsDatums(t *testing.T) {
	srv := New(nil)
	c := cloudWatchClient(t, srv)
	at := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	first := datum("cpu_idle", 97.5, "stack", "shop", "layer", "web", "instance", "i-1")
	first.Timestamp = aws.Time(at)
	_, err := c.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{
		Namespace:  aws.String("OpsRun"),
		MetricData: []types.MetricDatum{first, datum("load_1", 0, "stack", "shop"), datum("memory_total", 2048000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.PutMetricDataRequests()
	if len(reqs) != 1 || len(reqs[0]) != 3 {
		t.Fatalf("requests %+v", reqs)
	}
	got := reqs[0][0]
	if got.Namespace != "OpsRun" || got.MetricName != "cpu_idle" || got.Value != 97.5 || got.Unit != "Percent" || !got.Timestamp.Equal(at) ||
		len(got.Dimensions) != 3 || got.Dimensions["instance"] != "i-1" || got.Dimensions["layer"] != "web" || got.Dimensions["stack"] != "shop" {
		t.Errorf("first datum %+v", got)
	}
	if reqs[0][1].Value != 0 || reqs[0][2].Value != 2048000 || reqs[0][2].MetricName != "memory_total" {
		t.Errorf("values %+v", reqs[0])
	}
}

func TestPutMetricDataLimits(t *testing.T) {
	srv := New(nil)
	c := cloudWatchClient(t, srv)
	many := make([]types.MetricDatum, maxMetricDatums+1)
	for i := range many {
		many[i] = datum("procs", float64(i))
	}
	_, err := c.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{Namespace: aws.String("OpsRun"), MetricData: many})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterValue" || !strings.Contains(apiErr.ErrorMessage(), "1000") {
		t.Errorf("1001 datums: %v, want InvalidParameterValue naming the limit", err)
	}
	if _, err := c.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{Namespace: aws.String("OpsRun"), MetricData: many[:maxMetricDatums]}); err != nil {
		t.Errorf("1000 datums: %v", err)
	}
	if reqs := srv.PutMetricDataRequests(); len(reqs) != 1 || len(reqs[0]) != maxMetricDatums {
		t.Errorf("recorded %d requests, want only the valid one", len(reqs))
	}
}

func TestUnknownCloudWatchOperation(t *testing.T) {
	c := cloudWatchClient(t, New(nil))
	_, err := c.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnknownOperationException" || !strings.Contains(apiErr.ErrorMessage(), "ListMetrics") {
		t.Errorf("ListMetrics: %v, want UnknownOperationException naming it", err)
	}
}

func TestCloudWatchRawRequests(t *testing.T) {
	ts := httptest.NewServer(New(nil))
	defer ts.Close()
	post := func(header string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, ts.URL+cloudWatchPathPrefix+"PutMetricData", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/cbor")
		if header != "" {
			req.Header.Set("Smithy-Protocol", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	// {"Namespace": "N", "MetricData": [{"MetricName": "m", "Value": 1}]}
	// written by hand, so the server's decoding is checked against CBOR
	// bytes rather than against its own encoder.
	body := []byte{0xa2,
		0x69, 'N', 'a', 'm', 'e', 's', 'p', 'a', 'c', 'e', 0x61, 'N',
		0x6a, 'M', 'e', 't', 'r', 'i', 'c', 'D', 'a', 't', 'a', 0x81, 0xa2,
		0x6a, 'M', 'e', 't', 'r', 'i', 'c', 'N', 'a', 'm', 'e', 0x61, 'm',
		0x65, 'V', 'a', 'l', 'u', 'e', 0x01}
	resp, b := post("rpc-v2-cbor", body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, []byte{0xa0}) || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		t.Errorf("status %d, body % x, Smithy-Protocol %q; want 200, a0, rpc-v2-cbor", resp.StatusCode, b, resp.Header.Get("Smithy-Protocol"))
	}
	if resp, b := post("", body); resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("Smithy-Protocol")) {
		t.Errorf("no protocol header: status %d body %q", resp.StatusCode, b)
	}
	if resp, b := post("rpc-v2-cbor", []byte{0xff, 0x00}); resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte("SerializationException")) {
		t.Errorf("bad CBOR: status %d body %q", resp.StatusCode, b)
	}
}
