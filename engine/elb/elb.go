// Package elb takes a stack's instances out of the Elastic Load Balancing
// v2 target groups their layers name, and puts them back, through the
// real ELBv2 API (aws-sdk-go-v2). Taking an instance out waits until the
// load balancer has drained its connections; putting it back waits until
// the group's health checks pass, so a rolling deploy never has an
// instance serving requests while it is being changed.
//
// The client comes from the SDK's standard configuration (environment,
// shared profiles, SSO, IMDS, AWS_ENDPOINT_URL), the region from each
// target group's ARN. A host's target is its EC2 instance id (host var
// instance_id, which the EC2 inventory sets) in a group of target type
// instance, or its IP address in a group of type ip, on the group's port.
package elb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/opsrun/opsrun/inventory"
	"github.com/opsrun/opsrun/inventory/awsconfig"
)

// Defaults of Options.
const (
	// DefaultMaxWait bounds one wait: longer than ELB's default
	// deregistration delay (300 s), and than a slow start's health checks.
	DefaultMaxWait = 10 * time.Minute
	// DefaultPoll is the least time between two looks at a target's health.
	DefaultPoll = 5 * time.Second
)

// Options say how a Balancer waits.
type Options struct {
	// MaxWait bounds each wait, for a target to drain or to pass its
	// group's health checks (default DefaultMaxWait).
	MaxWait time.Duration
	// Poll is the least time between two DescribeTargetHealth calls of a
	// wait; the SDK's waiters back off from it up to six times it
	// (default DefaultPoll).
	Poll   time.Duration
	Logger *slog.Logger
}

var (
	// ErrNotTarget means a host cannot be a target of a group: a static
	// host (no EC2 instance id) in a group of target type instance, a host
	// without an IP address in a group of type ip, or a group of type
	// lambda or alb.
	ErrNotTarget = errors.New("cannot be a target")
	// ErrTimeout means a target did not drain, or did not pass its
	// group's health checks, within MaxWait.
	ErrTimeout = errors.New("timed out")
	// ErrNotInService means the load balancer says a target will not
	// serve: its group takes no traffic from a load balancer, or the
	// instance is not running.
	ErrNotInService = errors.New("not in service")
)

// Error is a failure to take a host out of a target group or to put it
// back. It wraps the cause: the SDK's error (smithy.APIError,
// *types.TargetGroupNotFoundException...) or one of this package's.
type Error struct {
	Op          string // "deregister" or "register"
	Host        string
	TargetGroup string // ARN
	Err         error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s, target group %s: %v", e.Op, e.Host, e.TargetGroup, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// API is the part of the ELBv2 client a Balancer uses.
type API interface {
	DescribeTargetGroups(context.Context, *elbv2.DescribeTargetGroupsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	RegisterTargets(context.Context, *elbv2.RegisterTargetsInput, ...func(*elbv2.Options)) (*elbv2.RegisterTargetsOutput, error)
	DeregisterTargets(context.Context, *elbv2.DeregisterTargetsInput, ...func(*elbv2.Options)) (*elbv2.DeregisterTargetsOutput, error)
	elbv2.DescribeTargetHealthAPIClient
}

// Balancer registers and deregisters hosts. It is safe for concurrent
// use: a rolling batch takes its hosts out in parallel.
type Balancer struct {
	opts Options
	log  *slog.Logger
	// client is the ELBv2 client for a region.
	client func(region string) API

	mu      sync.Mutex
	clients map[string]API
	groups  map[string]*group // by ARN
}

// group is what a target group's description says of its targets,
// looked up once.
type group struct {
	mu         sync.Mutex // held while looking it up
	known      bool
	targetType types.TargetTypeEnum
	port       int32
}

// New builds a Balancer for targetGroups (ARNs) on the SDK's standard
// configuration, and fails with advice (awsconfig.ErrNoCredentials) when
// there are no credentials: that is found out before any host is
// touched, not half way through a deploy. Each group's calls go to the
// region its ARN names.
func New(ctx context.Context, targetGroups []string, opts Options) (*Balancer, error) {
	region := ""
	for _, tg := range targetGroups {
		parsed, err := arn.Parse(tg)
		if err != nil {
			return nil, fmt.Errorf("%q is not a target group ARN: %w", tg, err)
		}
		region = cmp.Or(region, parsed.Region)
	}
	cfg, err := awsconfig.Load(ctx, region, "")
	if err != nil {
		return nil, fmt.Errorf("load balancer target groups: %w", err)
	}
	return NewWithClient(func(region string) API {
		return elbv2.NewFromConfig(cfg, func(o *elbv2.Options) {
			if region != "" {
				o.Region = region
			}
		})
	}, opts), nil
}

// NewWithClient builds a Balancer whose ELBv2 client for a region (the
// one a target group's ARN names) is client(region).
func NewWithClient(client func(region string) API, opts Options) *Balancer {
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Balancer{opts: opts, log: log, client: client, clients: map[string]API{}, groups: map[string]*group{}}
}

// Deregister takes h out of each target group in targetGroups and waits
// until each has drained it. The error joins an *Error per group that
// failed.
func (b *Balancer) Deregister(ctx context.Context, h *inventory.Host, targetGroups []string) error {
	return b.each(ctx, "deregister", h, targetGroups, func(ctx context.Context, c API, arn string, td types.TargetDescription) error {
		_, err := c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []types.TargetDescription{td}})
		return err
	}, false)
}

// Register puts h in each target group in targetGroups and waits until
// it passes each group's health checks. The error joins an *Error per
// group that failed.
func (b *Balancer) Register(ctx context.Context, h *inventory.Host, targetGroups []string) error {
	return b.each(ctx, "register", h, targetGroups, func(ctx context.Context, c API, arn string, td types.TargetDescription) error {
		_, err := c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: []types.TargetDescription{td}})
		return err
	}, true)
}

// each makes the change in every group first, so that the groups drain
// (or check) h at the same time, then waits for each.
func (b *Balancer) each(ctx context.Context, op string, h *inventory.Host, targetGroups []string,
	change func(context.Context, API, string, types.TargetDescription) error, inService bool) error {
	type pending struct {
		arn    string
		client API
		target types.TargetDescription
	}
	var errs []error
	fail := func(arn string, err error) {
		errs = append(errs, &Error{Op: op, Host: h.Name, TargetGroup: arn, Err: err})
	}
	var waits []pending
	for _, tg := range targetGroups {
		c, td, err := b.target(ctx, h, tg)
		if err == nil {
			err = change(ctx, c, tg, td)
			var ae smithy.APIError
			if !inService && errors.As(err, &ae) && ae.ErrorCode() == "InvalidTarget" {
				// ELB no longer knows the target (a terminated instance):
				// there is nothing to drain, as its waiter also holds.
				b.log.Info("load balancer target unknown to its group, nothing to drain", "host", h.Name, "target", aws.ToString(td.Id), "target_group", tg, "error", ae.ErrorMessage())
				continue
			}
			if err != nil {
				err = awsconfig.APIError(ctx, err, "elasticloadbalancing", strings.ToUpper(op[:1])+op[1:]+"Targets")
			}
		}
		if err != nil {
			fail(tg, err)
			continue
		}
		b.log.Info("load balancer target "+op+"ed, waiting", "host", h.Name, "target", aws.ToString(td.Id), "port", aws.ToInt32(td.Port), "target_group", tg)
		waits = append(waits, pending{tg, c, td})
	}
	for _, p := range waits {
		in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(p.arn), Targets: []types.TargetDescription{p.target}}
		if err := b.wait(ctx, p.client, in, inService); err != nil {
			fail(p.arn, err)
		}
	}
	return errors.Join(errs...)
}

// target is the ELBv2 client for tg's region and h's target in it.
func (b *Balancer) target(ctx context.Context, h *inventory.Host, tg string) (API, types.TargetDescription, error) {
	parsed, err := arn.Parse(tg)
	if err != nil {
		return nil, types.TargetDescription{}, fmt.Errorf("%q is not a target group ARN: %w", tg, err)
	}
	b.mu.Lock()
	c := b.clients[parsed.Region]
	if c == nil {
		c = b.client(parsed.Region)
		b.clients[parsed.Region] = c
	}
	g := b.groups[tg]
	if g == nil {
		g = &group{}
		b.groups[tg] = g
	}
	b.mu.Unlock()
	if err := g.lookUp(ctx, c, tg); err != nil {
		return nil, types.TargetDescription{}, err
	}
	id, err := g.targetID(h)
	if err != nil {
		return nil, types.TargetDescription{}, err
	}
	return c, types.TargetDescription{Id: aws.String(id), Port: aws.Int32(g.port)}, nil
}

// lookUp reads the group's target type and port, once.
func (g *group) lookUp(ctx context.Context, c API, tg string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known {
		return nil
	}
	out, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{tg}})
	if err != nil {
		return awsconfig.APIError(ctx, err, "elasticloadbalancing", "DescribeTargetGroups")
	}
	for _, d := range out.TargetGroups {
		if aws.ToString(d.TargetGroupArn) != tg {
			continue
		}
		g.targetType = d.TargetType
		if g.targetType == "" {
			g.targetType = types.TargetTypeEnumInstance // ELB's default
		}
		g.port = aws.ToInt32(d.Port)
		g.known = true
		return nil
	}
	return fmt.Errorf("DescribeTargetGroups did not describe it")
}

// targetID is h's id as a target of the group.
func (g *group) targetID(h *inventory.Host) (string, error) {
	switch g.targetType {
	case types.TargetTypeEnumInstance:
		if id := h.InstanceID(); id != "" {
			return id, nil
		}
		return "", fmt.Errorf("%w: the group takes EC2 instances and %s has no instance id (host var instance_id, which the ec2 inventory sets); put a static host in a target group of target type ip", ErrNotTarget, h.Name)
	case types.TargetTypeEnumIp:
		addr := h.StringVar("private_ip")
		if addr == "" {
			addr = h.Addr()
		}
		if net.ParseIP(addr) == nil {
			return "", fmt.Errorf("%w: the group takes IP addresses and %s is reached at %q; give the host its IP address as address", ErrNotTarget, h.Name, addr)
		}
		return addr, nil
	}
	return "", fmt.Errorf("%w: the group's target type is %s, which holds no hosts; name target groups of type instance or ip", ErrNotTarget, g.targetType)
}

// retryable is a waiter's decision on one DescribeTargetHealth answer.
type retryable = func(context.Context, *elbv2.DescribeTargetHealthInput, *elbv2.DescribeTargetHealthOutput, error) (bool, error)

// errWaitExpired marks the end of MaxWait met in a DescribeTargetHealth
// call rather than between two.
var errWaitExpired = errors.New("wait expired")

// wait waits with the SDK's TargetInServiceWaiter (inService) or
// TargetDeregisteredWaiter for the target in in, and says what the target
// was last seen doing when it gives up.
func (b *Balancer) wait(ctx context.Context, c API, in *elbv2.DescribeTargetHealthInput, inService bool) error {
	var last types.TargetHealth
	failed := false
	// watch wraps the waiter's own decision: it notes the last state seen,
	// stops early on a target that will not serve, and tells an API
	// failure from running out of time.
	watch := func(def retryable) retryable {
		return func(wctx context.Context, in *elbv2.DescribeTargetHealthInput, out *elbv2.DescribeTargetHealthOutput, err error) (bool, error) {
			if err != nil && ctx.Err() == nil && wctx.Err() != nil {
				return false, errWaitExpired
			}
			if err == nil && out != nil && len(out.TargetHealthDescriptions) > 0 && out.TargetHealthDescriptions[0].TargetHealth != nil {
				last = *out.TargetHealthDescriptions[0].TargetHealth
				switch r := last.Reason; {
				case !inService:
				case r == types.TargetHealthReasonEnumHealthCheckDisabled:
					// Served without health checks: nothing to wait for.
					return false, nil
				case r == types.TargetHealthReasonEnumNotInUse || r == types.TargetHealthReasonEnumInvalidState || r == types.TargetHealthReasonEnumIpUnusable:
					// It will not pass by waiting: say why now.
					failed = true
					return false, fmt.Errorf("%w: %s", ErrNotInService, describe(last))
				}
			}
			retry, err := def(wctx, in, out, err)
			failed = failed || err != nil
			return retry, err
		}
	}
	minDelay, maxDelay := b.opts.Poll, 6*b.opts.Poll
	var err error
	if inService {
		err = elbv2.NewTargetInServiceWaiter(c, func(o *elbv2.TargetInServiceWaiterOptions) {
			o.MinDelay, o.MaxDelay, o.Retryable = minDelay, maxDelay, watch(o.Retryable)
		}).Wait(ctx, in, b.opts.MaxWait)
	} else {
		err = elbv2.NewTargetDeregisteredWaiter(c, func(o *elbv2.TargetDeregisteredWaiterOptions) {
			o.MinDelay, o.MaxDelay, o.Retryable = minDelay, maxDelay, watch(o.Retryable)
		}).Wait(ctx, in, b.opts.MaxWait)
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case failed:
		return err
	}
	what := "drain"
	if inService {
		what = "pass the group's health checks"
	}
	state := "never described"
	if last.State != "" {
		state = describe(last)
	}
	return fmt.Errorf("%w: did not %s within %s (last seen %s)", ErrTimeout, what, b.opts.MaxWait, state)
}

// describe is a target health as ELB words it: "draining
// (Target.DeregistrationInProgress: Target deregistration is in progress)".
func describe(th types.TargetHealth) string {
	s := string(th.State)
	switch {
	case th.Reason != "" && aws.ToString(th.Description) != "":
		s += fmt.Sprintf(" (%s: %s)", th.Reason, aws.ToString(th.Description))
	case th.Reason != "":
		s += " (" + string(th.Reason) + ")"
	}
	return s
}
