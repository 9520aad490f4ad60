package ec2

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// classify turns a DescribeInstances failure into one line that says what
// to do, keeping the SDK's error underneath (errors.As still finds its
// smithy.APIError).
func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException":
			return fmt.Errorf("%w: the credentials in use may not call ec2:DescribeInstances; grant it in their IAM policy (%s: %s): %w", ErrAccessDenied, ae.ErrorCode(), ae.ErrorMessage(), err)
		case "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "RequestExpired", "ExpiredToken":
			return fmt.Errorf("%w: AWS refused the credentials (%s: %s); check the access key, or renew the session (`aws sso login`): %w", ErrAccessDenied, ae.ErrorCode(), ae.ErrorMessage(), err)
		}
		return fmt.Errorf("DescribeInstances failed (%s: %s): %w", ae.ErrorCode(), ae.ErrorMessage(), err)
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: check the network, the region and AWS_ENDPOINT_URL if set: %w", ErrUnreachable, err)
	}
	return fmt.Errorf("DescribeInstances: %w", err)
}
