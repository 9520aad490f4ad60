package awsconfig

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// isolate hides the environment's AWS settings and gives the SDK shared
// config and credentials files with one profile, ops.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("AWS_CONFIG_FILE", write("config", "[profile ops]\nregion = eu-north-1\n"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", write("credentials", "[ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = opssecret\n"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
}

func TestLoadProfileAndRegion(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	cfg, err := Load(ctx, "", "ops")
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if cfg.Region != "eu-north-1" || err != nil || creds.AccessKeyID != "AKIDOPS" {
		t.Errorf("profile ops: region %q, key %q (%v); want the profile's", cfg.Region, creds.AccessKeyID, err)
	}
	if cfg, err := Load(ctx, "ap-south-2", "ops"); err != nil || cfg.Region != "ap-south-2" {
		t.Errorf("a block's region must win over the profile's: %q, %v", cfg.Region, err)
	}
	// The default profile has neither a region nor credentials.
	if _, err := Load(ctx, "", ""); !errors.Is(err, ErrNoRegion) || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("no region: %v", err)
	}
	if _, err := Load(ctx, "eu-west-3", ""); !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "aws sso login") {
		t.Errorf("no credentials: %v", err)
	}
}

func TestAPIError(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		err  error
		is   error
		want string
	}{
		{&smithy.GenericAPIError{Code: "AccessDenied", Message: "nope"}, ErrAccessDenied, "may not call rds:DescribeDBInstances; grant it in their IAM policy (AccessDenied: nope)"},
		{&smithy.GenericAPIError{Code: "ExpiredToken", Message: "old"}, ErrAccessDenied, "AWS refused the credentials (ExpiredToken: old)"},
		{&smithy.GenericAPIError{Code: "Throttling", Message: "slow down"}, nil, "DescribeDBInstances failed (Throttling: slow down)"},
		{&smithyhttp.RequestSendError{Err: errors.New("connection refused")}, ErrUnreachable, "cannot reach the AWS API (rds): check the network"},
	} {
		err := APIError(ctx, c.err, "rds", "DescribeDBInstances")
		if !errors.Is(err, c.err) || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("APIError(%v) = %v; want it wrapping the SDK error and %v, saying %q", c.err, err, c.is, c.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := APIError(cctx, errors.New("request canceled"), "rds", "DescribeDBInstances"); err != context.Canceled {
		t.Errorf("cancelled: %v, want context.Canceled itself", err)
	}
}
