package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// Cloud is what healing needs of EC2.
type Cloud interface {
	// State is the instance's EC2 state (running, stopped, terminated,
	// ...), or ErrNoInstance when EC2 does not know it.
	State(ctx context.Context, id string) (string, error)
	// Restart stops the instance (unless it is stopped already), starts
	// it and waits until it runs. Its id, disks and tags stay.
	Restart(ctx context.Context, id string) error
	// Replace terminates the instance and launches a like one (AMI, type,
	// subnet, security groups, key pair, instance profile and tags), and
	// waits until it runs. token makes a retried launch idempotent.
	Replace(ctx context.Context, id, token string) (newID string, err error)
}

// ErrNoInstance means EC2 does not know the instance id.
var ErrNoInstance = errors.New("no such EC2 instance")

// EC2API is the part of the EC2 client healing uses.
type EC2API interface {
	ec2.DescribeInstancesAPIClient
	StopInstances(ctx context.Context, in *ec2.StopInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
	StartInstances(ctx context.Context, in *ec2.StartInstancesInput, optFns ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput, optFns ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
}

// EC2Cloud heals through the EC2 API. Clients are tried in order for an
// instance (one per region or account the stack's inventories use): the
// first that knows its id acts on it.
type EC2Cloud struct {
	Clients []EC2API
	// Wait bounds each wait for a state (stopped, running); 0 means 10
	// minutes. Poll is the longest pause between two looks; 0 means 15s.
	Wait, Poll time.Duration
}

// State implements Cloud.
func (c *EC2Cloud) State(ctx context.Context, id string) (string, error) {
	inst, _, err := c.find(ctx, id)
	if err != nil {
		return "", err
	}
	if inst.State == nil {
		return "", nil
	}
	return string(inst.State.Name), nil
}

// Restart implements Cloud.
func (c *EC2Cloud) Restart(ctx context.Context, id string) error {
	inst, api, err := c.find(ctx, id)
	if err != nil {
		return err
	}
	ids := []string{id}
	if st := stateOf(inst); st != types.InstanceStateNameStopped {
		if st == types.InstanceStateNameTerminated || st == types.InstanceStateNameShuttingDown {
			return fmt.Errorf("restart %s: it is %s; only a replacement brings it back (auto_healing = \"replace\")", id, st)
		}
		if _, err := api.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids}); err != nil {
			return fmt.Errorf("restart %s: stop: %w", id, err)
		}
		w := ec2.NewInstanceStoppedWaiter(api, func(o *ec2.InstanceStoppedWaiterOptions) { o.MinDelay, o.MaxDelay = c.delays() })
		if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids}, c.wait()); err != nil {
			return fmt.Errorf("restart %s: wait until stopped: %w", id, err)
		}
	}
	if _, err := api.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids}); err != nil {
		return fmt.Errorf("restart %s: start: %w", id, err)
	}
	return c.waitRunning(ctx, api, id)
}

// Replace implements Cloud.
func (c *EC2Cloud) Replace(ctx context.Context, id, token string) (string, error) {
	inst, api, err := c.find(ctx, id)
	if err != nil {
		return "", err
	}
	in, err := likeInstance(inst, token)
	if err != nil {
		return "", fmt.Errorf("replace %s: %w", id, err)
	}
	if st := stateOf(inst); st != types.InstanceStateNameTerminated {
		// Terminated first: a like instance carries the same Name tag,
		// and two live instances under one name would be ambiguous to
		// the inventory.
		if _, err := api.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
			return "", fmt.Errorf("replace %s: terminate: %w", id, err)
		}
	}
	out, err := api.RunInstances(ctx, in)
	if err != nil {
		return "", fmt.Errorf("replace %s: launch a like instance: %w", id, err)
	}
	if len(out.Instances) != 1 || out.Instances[0].InstanceId == nil {
		return "", fmt.Errorf("replace %s: launch answered %d instances, want 1", id, len(out.Instances))
	}
	newID := *out.Instances[0].InstanceId
	if err := c.waitRunning(ctx, api, newID); err != nil {
		return newID, fmt.Errorf("replace %s: %w", id, err)
	}
	return newID, nil
}

// likeInstance is the launch request for an instance like inst. Tags
// under aws: are EC2's own (CloudFormation's, say) and cannot be set.
func likeInstance(inst types.Instance, token string) (*ec2.RunInstancesInput, error) {
	if inst.ImageId == nil || *inst.ImageId == "" {
		return nil, errors.New("EC2 reports no AMI for it, so a like instance cannot be launched")
	}
	in := &ec2.RunInstancesInput{
		ImageId:      inst.ImageId,
		InstanceType: inst.InstanceType,
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(1),
		SubnetId:     inst.SubnetId,
		KeyName:      inst.KeyName,
		ClientToken:  aws.String(token),
	}
	for _, g := range inst.SecurityGroups {
		if g.GroupId != nil {
			in.SecurityGroupIds = append(in.SecurityGroupIds, *g.GroupId)
		}
	}
	if p := inst.IamInstanceProfile; p != nil && p.Arn != nil {
		in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Arn: p.Arn}
	}
	var tags []types.Tag
	for _, t := range inst.Tags {
		if t.Key != nil && !strings.HasPrefix(*t.Key, "aws:") {
			tags = append(tags, types.Tag{Key: t.Key, Value: t.Value})
		}
	}
	if len(tags) > 0 {
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: tags}}
	}
	return in, nil
}

func (c *EC2Cloud) waitRunning(ctx context.Context, api EC2API, id string) error {
	w := ec2.NewInstanceRunningWaiter(api, func(o *ec2.InstanceRunningWaiterOptions) { o.MinDelay, o.MaxDelay = c.delays() })
	if err := w.Wait(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}, c.wait()); err != nil {
		return fmt.Errorf("wait until %s runs: %w", id, err)
	}
	return nil
}

func (c *EC2Cloud) wait() time.Duration {
	if c.Wait > 0 {
		return c.Wait
	}
	return 10 * time.Minute
}

func (c *EC2Cloud) delays() (time.Duration, time.Duration) {
	most := c.Poll
	if most <= 0 {
		most = 15 * time.Second
	}
	return min(time.Second, most), most
}

// find describes id with the first client that knows it.
func (c *EC2Cloud) find(ctx context.Context, id string) (types.Instance, EC2API, error) {
	for _, api := range c.Clients {
		out, err := api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		var ae smithy.APIError
		if errors.As(err, &ae) && strings.HasPrefix(ae.ErrorCode(), "InvalidInstanceID") {
			continue
		}
		if err != nil {
			return types.Instance{}, nil, fmt.Errorf("describe %s: %w", id, err)
		}
		for _, r := range out.Reservations {
			for _, inst := range r.Instances {
				if inst.InstanceId != nil && *inst.InstanceId == id {
					return inst, api, nil
				}
			}
		}
	}
	return types.Instance{}, nil, fmt.Errorf("%w: %s", ErrNoInstance, id)
}

func stateOf(inst types.Instance) types.InstanceStateName {
	if inst.State == nil {
		return ""
	}
	return inst.State.Name
}
