// Package awsconfig is what opsrun's AWS-backed inventories share: loading
// aws-sdk-go-v2's standard configuration (the credential chain:
// environment, shared config and credentials files with a profile, SSO,
// IMDS; region resolution; AWS_ENDPOINT_URL) with a block's own region and
// profile, and turning the SDK's failures into one line that says what to
// do. The SDK's own errors for a missing region or credentials name
// neither the fix nor the block, and an access-denied error does not say
// which IAM permission is missing.
package awsconfig

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Errors Load and APIError wrap, for callers that act on the kind of
// failure.
var (
	ErrNoRegion      = errors.New("no AWS region configured")
	ErrNoCredentials = errors.New("no AWS credentials found")
	ErrAccessDenied  = errors.New("access denied")
	ErrUnreachable   = errors.New("cannot reach the AWS API")
)

// Load returns the SDK's standard configuration, with region and profile
// when not empty, and fails early, with advice, when it has no region or
// no credentials. Credentials are retrieved now, so a command stops before
// it touches any host rather than at its first API call.
func Load(ctx context.Context, region, profile string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("%w: set region in the block, AWS_REGION, or a region in the profile's ~/.aws/config", ErrNoRegion)
	}
	if cfg.Credentials == nil {
		return aws.Config{}, fmt.Errorf("%w: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile (`aws configure`, `aws sso login`)", ErrNoCredentials)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return aws.Config{}, ctx.Err()
		}
		return aws.Config{}, fmt.Errorf("%w: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile (`aws configure`, `aws sso login`, profile = \"...\" in the block): %w", ErrNoCredentials, err)
	}
	return cfg, nil
}

// APIError turns a failed call of service's operation (IAM's names:
// "ec2", "DescribeInstances") into one line that says what to do, keeping
// the SDK's error underneath (errors.As still finds its smithy.APIError).
// A cancelled ctx is returned as is.
func APIError(ctx context.Context, err error, service, operation string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException":
			return fmt.Errorf("%w: the credentials in use may not call %s:%s; grant it in their IAM policy (%s: %s): %w", ErrAccessDenied, service, operation, ae.ErrorCode(), ae.ErrorMessage(), err)
		case "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "RequestExpired", "ExpiredToken":
			return fmt.Errorf("%w: AWS refused the credentials (%s: %s); check the access key, or renew the session (`aws sso login`): %w", ErrAccessDenied, ae.ErrorCode(), ae.ErrorMessage(), err)
		}
		return fmt.Errorf("%s failed (%s: %s): %w", operation, ae.ErrorCode(), ae.ErrorMessage(), err)
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) {
		return fmt.Errorf("%w (%s): check the network, the region and AWS_ENDPOINT_URL if set: %w", ErrUnreachable, service, err)
	}
	return fmt.Errorf("%s: %w", operation, err)
}
