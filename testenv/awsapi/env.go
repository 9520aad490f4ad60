package awsapi

import (
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// The static credentials and default region of the local endpoint. It
// does not check signatures, but the SDK refuses to send unsigned
// requests, so some credentials must be configured; fixed values keep
// aws.env reproducible.
const (
	AccessKeyID     = "AKIDOPSRUNTESTENV"
	SecretAccessKey = "opsrun-testenv-secret"
	DefaultRegion   = "us-east-1"
)

// Env is the environment that points aws-sdk-go-v2's standard
// configuration at the endpoint serving url, as KEY=VALUE lines: the
// content of a fleet's aws.env.
func Env(url, region string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + url,
		"AWS_REGION=" + region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
	}
}

// isolationEnv hides the user's own AWS configuration from a test: the
// shared files point into dir (where nothing exists) and IMDS is off, so
// the only credentials and region are those Env sets.
func isolationEnv(dir string) []string {
	return []string{
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PROFILE=", "AWS_DEFAULT_REGION=", "AWS_SESSION_TOKEN=",
		"AWS_ROLE_ARN=", "AWS_WEB_IDENTITY_TOKEN_FILE=",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=", "AWS_CONTAINER_CREDENTIALS_FULL_URI=",
	}
}

// Serve starts srv on a local port for the test's duration and points the
// process environment (t.Setenv, so not in parallel tests) at it, with the
// user's own AWS configuration hidden. It returns the endpoint's URL. When
// the test ends it stops serving, then closes srv (its backend work in
// flight is cancelled).
func Serve(t testing.TB, srv *Server) string {
	t.Helper()
	t.Cleanup(srv.Close)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	for _, kv := range append(isolationEnv(t.TempDir()), Env(ts.URL, DefaultRegion)...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return ts.URL
}
