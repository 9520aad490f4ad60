package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/inventory/awsconfig"
)

// Namespace is the CloudWatch namespace opsrun's metrics are pushed to.
const Namespace = "OpsRun"

// MaxDatumsPerRequest is CloudWatch's limit of datums in one PutMetricData
// request; Push splits its datums into requests of at most this many.
const MaxDatumsPerRequest = 1000

// ErrCloudWatch wraps every failure to reach or configure CloudWatch.
var ErrCloudWatch = errors.New("cannot push metrics to CloudWatch")

// PutMetricDataAPI is the part of the CloudWatch client Push uses, so
// tests can count requests without an endpoint.
type PutMetricDataAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// NewCloudWatchClient builds a CloudWatch client from the SDK's standard
// configuration (environment, shared profiles, SSO, IMDS; AWS_ENDPOINT_URL
// included), as the EC2 inventory does, and fails with ErrCloudWatch and
// advice when there is no region or no credentials.
func NewCloudWatchClient(ctx context.Context) (*cloudwatch.Client, error) {
	cfg, err := awsconfig.Load(ctx, "", "")
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w (or use --metrics-sink stdout)", ErrCloudWatch, err)
	}
	return cloudwatch.NewFromConfig(cfg), nil
}

// CloudWatchDatums turns a round of samples into CloudWatch datums, all
// stamped at: each instance's 15 metrics with dimensions stack, layer and
// instance (one set per layer the instance is in, so each layer's
// instances can be graphed together), then each layer's averages with
// dimensions stack and layer. The instance dimension is the EC2 instance
// id (host var instance_id) when there is one, else the host name.
func CloudWatchDatums(stack string, results []Result, layers []LayerMetrics, at time.Time) []types.MetricDatum {
	var out []types.MetricDatum
	add := func(m Metrics, dims []types.Dimension) {
		for _, d := range m.Datums() {
			out = append(out, types.MetricDatum{
				MetricName: aws.String(d.Name),
				Value:      aws.Float64(d.Value),
				Unit:       unitOf(d.Name),
				Timestamp:  aws.Time(at),
				Dimensions: dims,
			})
		}
	}
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		instance := instanceID(r.Host)
		layerNames := r.Host.Layers
		if len(layerNames) == 0 {
			add(r.Metrics, dimensions("stack", stack, "instance", instance))
		}
		for _, layer := range layerNames {
			add(r.Metrics, dimensions("stack", stack, "layer", layer, "instance", instance))
		}
	}
	for _, lm := range layers {
		add(lm.Metrics, dimensions("stack", stack, "layer", lm.Layer))
	}
	return out
}

// Push sends datums in requests of at most MaxDatumsPerRequest to the
// OpsRun namespace and returns how many requests it made. It stops at the
// first failed request: the rest of the round would most likely fail the
// same way (credentials, throttling), and the next round resends fresh
// figures anyway.
func Push(ctx context.Context, client PutMetricDataAPI, datums []types.MetricDatum) (int, error) {
	requests := 0
	for start := 0; start < len(datums); start += MaxDatumsPerRequest {
		end := min(start+MaxDatumsPerRequest, len(datums))
		_, err := client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
			Namespace:  aws.String(Namespace),
			MetricData: datums[start:end],
		})
		if err != nil {
			return requests, fmt.Errorf("%w: PutMetricData (datums %d-%d of %d): %w", ErrCloudWatch, start+1, end, len(datums), err)
		}
		requests++
	}
	return requests, nil
}

func dimensions(nameValues ...string) []types.Dimension {
	dims := make([]types.Dimension, 0, len(nameValues)/2)
	for i := 0; i+1 < len(nameValues); i += 2 {
		dims = append(dims, types.Dimension{Name: aws.String(nameValues[i]), Value: aws.String(nameValues[i+1])})
	}
	return dims
}

// instanceID is the host's EC2 instance id when its inventory gave one (the
// EC2 inventory sets host.vars.instance_id), else its name.
func instanceID(h *inventory.Host) string {
	if id := h.InstanceID(); id != "" {
		return id
	}
	return h.Name
}

// unitOf gives each metric its CloudWatch unit, so the console labels
// axes correctly.
func unitOf(metric string) types.StandardUnit {
	switch metric {
	case "cpu_idle", "cpu_nice", "cpu_system", "cpu_user", "cpu_waitio":
		return types.StandardUnitPercent
	case "memory_buffers", "memory_cached", "memory_free", "memory_swap", "memory_total", "memory_used":
		return types.StandardUnitKilobytes
	case "procs":
		return types.StandardUnitCount
	}
	return types.StandardUnitNone
}
