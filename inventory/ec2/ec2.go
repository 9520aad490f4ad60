// Package ec2 is opsrun's dynamic EC2 inventory: it turns an
// `inventory "ec2" { ... }` block into hosts by asking EC2's
// DescribeInstances for the running instances that match the block's
// filters.
//
// It uses aws-sdk-go-v2's standard configuration: the credential chain
// (environment, shared config and credentials files with `profile`, SSO,
// IMDS) and region resolution, so a user whose `aws` CLI works needs
// nothing else. The endpoint too comes from the SDK's configuration
// (AWS_ENDPOINT_URL), which is how tests point it at testenv's local
// endpoint: there is no opsrun-specific endpoint setting.
package ec2

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/inventory/awsconfig"
)

// Defaults of an inventory block's settings.
const (
	DefaultLayerTag = "opsrun:layer"
	DefaultAddress  = AddressPrivateIP
	DefaultPort     = 22
)

// The address settings: which of an instance's addresses opsrun dials.
const (
	AddressPrivateIP  = "private_ip"
	AddressPublicIP   = "public_ip"
	AddressPrivateDNS = "private_dns"
)

// SSHPortTag, when an instance carries it, overrides the block's port for
// that instance. It is a testenv convention (its fleet hosts share the
// public IP 127.0.0.1 and differ by published port) that real fleets may
// use too, e.g. for an sshd moved off 22 on some instances.
const SSHPortTag = "opsrun:ssh-port"

// stateFilter is the filter every request carries: only running instances
// can be configured.
const stateFilter = "instance-state-name"

// Config is one `inventory "ec2"` block, decoded (see Decode).
type Config struct {
	Region  string // empty: the SDK's resolution (AWS_REGION, the profile's region)
	Profile string // empty: the SDK's default (AWS_PROFILE, else "default")
	// Filters are DescribeInstances filters: name -> values, any value
	// matching. instance-state-name=running is always added.
	Filters      map[string][]string
	LayerTag     string // tag holding an instance's comma-separated layers
	Address      string // AddressPrivateIP, AddressPublicIP or AddressPrivateDNS
	User         string
	Port         int    // 0 means DefaultPort
	IdentityFile string // absolute
	// Bastion is an OpenSSH ProxyJump spec applied to every host.
	Bastion string
	// DeclRange is the block's header, named by every error.
	DeclRange hcl.Range
}

// Errors Resolve may wrap, for callers that act on the kind of failure:
// package awsconfig's, which every AWS-backed inventory shares.
var (
	ErrNoRegion      = awsconfig.ErrNoRegion
	ErrNoCredentials = awsconfig.ErrNoCredentials
	ErrAccessDenied  = awsconfig.ErrAccessDenied
	ErrUnreachable   = awsconfig.ErrUnreachable
)

// Error is a failure resolving one inventory block: it names the block's
// file:line so the user knows which inventory failed.
type Error struct {
	DeclRange hcl.Range
	Err       error
}

// Error is one line: the block's file:line, then what failed.
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: inventory \"ec2\": %v", e.DeclRange.Filename, e.DeclRange.Start.Line, e.Err)
}

// Unwrap returns the failure, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Resolve lists the running instances cfg selects and returns them as
// hosts, sorted by name. Instances without cfg's layer tag, or without the
// address cfg dials, are skipped and logged with the reason.
func Resolve(ctx context.Context, cfg Config, log *slog.Logger) ([]*inventory.Host, error) {
	client, err := newClient(ctx, cfg)
	if err != nil {
		return nil, &Error{DeclRange: cfg.DeclRange, Err: err}
	}
	hosts, err := resolve(ctx, client, cfg, log)
	if err != nil {
		return nil, &Error{DeclRange: cfg.DeclRange, Err: err}
	}
	return hosts, nil
}

// newClient builds the EC2 client from the SDK's standard configuration
// with cfg's region and profile (see awsconfig.Load).
func newClient(ctx context.Context, cfg Config) (*awsec2.Client, error) {
	awsCfg, err := awsconfig.Load(ctx, cfg.Region, cfg.Profile)
	if err != nil {
		return nil, err
	}
	return awsec2.NewFromConfig(awsCfg), nil
}

// resolve is Resolve on a given client, the part tests drive with fakes
// as well as with the real endpoint.
func resolve(ctx context.Context, client awsec2.DescribeInstancesAPIClient, cfg Config, log *slog.Logger) ([]*inventory.Host, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	instances, err := describe(ctx, client, cfg.Filters)
	if err != nil {
		return nil, err
	}
	layerTag := cmp.Or(cfg.LayerTag, DefaultLayerTag)
	address := cmp.Or(cfg.Address, DefaultAddress)

	// Names: the Name tag when no other selected instance shares it.
	names := map[string]int{}
	for _, inst := range instances {
		if n := tag(inst, "Name"); n != "" {
			names[n]++
		}
	}
	var hosts []*inventory.Host
	for _, inst := range instances {
		id := aws.ToString(inst.InstanceId)
		skip := func(reason string) {
			log.Warn("EC2 inventory skips an instance", "instance", id, "name", tag(inst, "Name"), "reason", reason, "inventory", rangeString(cfg.DeclRange))
		}
		layers := splitLayers(tag(inst, layerTag))
		if len(layers) == 0 {
			skip(fmt.Sprintf("no layers in its %q tag", layerTag))
			continue
		}
		addr := addressOf(inst, address)
		if addr == "" {
			skip(fmt.Sprintf("it has no %s (the block's address)", address))
			continue
		}
		port := cmp.Or(cfg.Port, DefaultPort)
		if v := tag(inst, SSHPortTag); v != "" {
			p, err := strconv.Atoi(v)
			if err != nil || p < 1 || p > 65535 {
				skip(fmt.Sprintf("its %q tag is %q, not a port number", SSHPortTag, v))
				continue
			}
			port = p
		}
		name := tag(inst, "Name")
		if name == "" || names[name] > 1 {
			name = id
		}
		h := &inventory.Host{
			Name:      name,
			Address:   addr,
			Port:      port,
			User:      cfg.User,
			Layers:    layers,
			Vars:      vars(inst),
			DeclRange: cfg.DeclRange,
		}
		if cfg.IdentityFile != "" {
			h.SSH.IdentityFiles = []string{cfg.IdentityFile}
		}
		h.SSH.ProxyJump = cfg.Bastion
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, func(a, b *inventory.Host) int { return strings.Compare(a.Name, b.Name) })
	return hosts, nil
}

// describe walks every page of DescribeInstances for the running
// instances matching filters.
func describe(ctx context.Context, client awsec2.DescribeInstancesAPIClient, filters map[string][]string) ([]types.Instance, error) {
	in := &awsec2.DescribeInstancesInput{}
	keys := make([]string, 0, len(filters))
	for k := range filters {
		if k != stateFilter {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // stable requests, easier to read in endpoint logs
	for _, k := range keys {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String(k), Values: filters[k]})
	}
	in.Filters = append(in.Filters, types.Filter{Name: aws.String(stateFilter), Values: []string{"running"}})

	var out []types.Instance
	p := awsec2.NewDescribeInstancesPaginator(client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsconfig.APIError(ctx, err, "ec2", "DescribeInstances")
		}
		for _, r := range page.Reservations {
			out = append(out, r.Instances...)
		}
	}
	return out, nil
}

func tag(inst types.Instance, key string) string {
	for _, t := range inst.Tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func splitLayers(s string) []string {
	var out []string
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func addressOf(inst types.Instance, address string) string {
	switch address {
	case AddressPublicIP:
		return aws.ToString(inst.PublicIpAddress)
	case AddressPrivateDNS:
		return aws.ToString(inst.PrivateDnsName)
	default:
		return aws.ToString(inst.PrivateIpAddress)
	}
}

// vars are the instance's metadata as host.vars: instance_id,
// instance_type, availability_zone, private_ip, public_ip (empty when it
// has none) and every tag under tags.
func vars(inst types.Instance) map[string]cty.Value {
	az := ""
	if inst.Placement != nil {
		az = aws.ToString(inst.Placement.AvailabilityZone)
	}
	tags := cty.MapValEmpty(cty.String)
	if len(inst.Tags) > 0 {
		m := make(map[string]cty.Value, len(inst.Tags))
		for _, t := range inst.Tags {
			m[aws.ToString(t.Key)] = cty.StringVal(aws.ToString(t.Value))
		}
		tags = cty.MapVal(m)
	}
	return map[string]cty.Value{
		"instance_id":       cty.StringVal(aws.ToString(inst.InstanceId)),
		"instance_type":     cty.StringVal(string(inst.InstanceType)),
		"availability_zone": cty.StringVal(az),
		"private_ip":        cty.StringVal(aws.ToString(inst.PrivateIpAddress)),
		"public_ip":         cty.StringVal(aws.ToString(inst.PublicIpAddress)),
		"tags":              tags,
	}
}

func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
}
