package rds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/inventory/awsconfig"
	"github.com/opsrun/opsrun/testenv/awsapi"
)

var declRange = hcl.Range{Filename: "/stack/layers.hcl", Start: hcl.Pos{Line: 4, Column: 3}}

func shopDB() awsapi.DBInstance {
	return awsapi.DBInstance{
		Identifier: "shop-db", Class: "db.t3.micro", Engine: "postgres", EngineVersion: "16.3",
		DBName: "shop", MasterUsername: "shopadmin", Address: "shop-db.abc123.us-east-1.rds.amazonaws.com",
		Port: 5432, AvailabilityZone: "us-east-1b",
	}
}

// serve points the SDK's standard configuration at a local endpoint
// whose RDS has dbs.
func serve(t *testing.T, dbs ...awsapi.DBInstance) {
	t.Helper()
	srv := awsapi.New(nil)
	srv.AddDBInstance(dbs...)
	awsapi.Serve(t, srv)
}

// oneLine fails unless err is one line containing want.
func oneLine(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v; want one line containing %q", err, want)
	}
}

func TestResolveFound(t *testing.T) {
	other := shopDB()
	other.Identifier, other.Engine, other.Address = "blog-db", "mysql", "blog-db.abc123.us-east-1.rds.amazonaws.com"
	serve(t, other, shopDB())
	var logs bytes.Buffer
	// RDS matches identifiers in any case, and so must opsrun.
	inst, err := Resolve(context.Background(), Config{Layer: "db", Identifier: "Shop-DB", DeclRange: declRange}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := Instance{
		Layer: "db", Identifier: "shop-db", Address: "shop-db.abc123.us-east-1.rds.amazonaws.com", Port: 5432,
		Engine: "postgres", EngineVersion: "16.3", Status: "available", DBName: "shop", MasterUsername: "shopadmin",
		AvailabilityZone: "us-east-1b", ARN: "arn:aws:rds:us-east-1:000000000000:db:shop-db", DeclRange: declRange,
	}
	if *inst != want {
		t.Errorf("instance = %+v\nwant       %+v", *inst, want)
	}
	if logs.Len() != 0 {
		t.Errorf("an available instance logged: %s", logs.String())
	}
	vars := inst.Vars()
	if p := vars["port"]; !p.Type().Equals(cty.Number) || !p.Equals(cty.NumberIntVal(5432)).True() {
		t.Errorf("vars.port = %#v, want the number 5432", p)
	}
	for k, v := range map[string]string{"engine": "postgres", "engine_version": "16.3", "db_name": "shop", "master_username": "shopadmin",
		"identifier": "shop-db", "status": "available", "arn": want.ARN, "availability_zone": "us-east-1b"} {
		if got := vars[k]; got.Type() != cty.String || got.AsString() != v {
			t.Errorf("vars.%s = %#v, want %q", k, got, v)
		}
	}
}

func TestResolveNotAvailableWarns(t *testing.T) {
	db := shopDB()
	db.Status, db.Address, db.Port = "creating", "", 0
	serve(t, db)
	var logs bytes.Buffer
	inst, err := Resolve(context.Background(), Config{Layer: "db", Identifier: "shop-db", DeclRange: declRange}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if inst.Status != "creating" || inst.Address != "" || inst.Port != 0 {
		t.Errorf("instance = %+v, want it as RDS reports it", inst)
	}
	for _, want := range []string{"level=WARN", "not available", "identifier=shop-db", "status=creating", "rds=/stack/layers.hcl:4"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestResolveNotFound(t *testing.T) {
	serve(t, shopDB())
	_, err := Resolve(context.Background(), Config{Layer: "db", Identifier: "shop-db2", DeclRange: declRange}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Config.Identifier != "shop-db2" {
		t.Errorf("err = %#v, want an *Error for shop-db2", err)
	}
	if _, ok := errors.AsType[*types.DBInstanceNotFoundFault](err); !ok {
		t.Errorf("err = %v lost the SDK's DBInstanceNotFoundFault", err)
	}
	oneLine(t, err, `/stack/layers.hcl:4: layer "db": rds "shop-db2": no such RDS DB instance in region us-east-1: check the identifier`)
}

func TestResolveErrors(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Layer: "db", Identifier: "shop-db", DeclRange: declRange}
	t.Run("no credentials", func(t *testing.T) {
		serve(t, shopDB())
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		_, err := Resolve(ctx, cfg, nil)
		if !errors.Is(err, awsconfig.ErrNoCredentials) {
			t.Fatalf("err = %v, want ErrNoCredentials", err)
		}
		oneLine(t, err, `/stack/layers.hcl:4: layer "db": rds "shop-db": no AWS credentials found: set AWS_ACCESS_KEY_ID`)
	})
	t.Run("region from the block", func(t *testing.T) {
		serve(t)
		t.Setenv("AWS_REGION", "")
		if _, err := Resolve(ctx, cfg, nil); !errors.Is(err, awsconfig.ErrNoRegion) {
			t.Fatalf("err = %v, want ErrNoRegion", err)
		}
		with := cfg
		with.Region = "eu-west-3"
		_, err := Resolve(ctx, with, nil)
		oneLine(t, err, "no such RDS DB instance in region eu-west-3")
	})
	t.Run("access denied", func(t *testing.T) {
		serve(t)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: rds:DescribeDBInstances</Message></Error><RequestId>x</RequestId></ErrorResponse>`)
		}))
		t.Cleanup(ts.Close)
		t.Setenv("AWS_ENDPOINT_URL", ts.URL)
		_, err := Resolve(ctx, cfg, nil)
		if !errors.Is(err, awsconfig.ErrAccessDenied) {
			t.Fatalf("err = %v, want ErrAccessDenied", err)
		}
		oneLine(t, err, "may not call rds:DescribeDBInstances")
	})
}

// pagedClient answers DescribeDBInstances from pages, a Marker leading
// from one to the next, and records the markers it was asked with.
type pagedClient struct {
	pages   [][]types.DBInstance
	markers []string
}

func (c *pagedClient) DescribeDBInstances(_ context.Context, in *awsrds.DescribeDBInstancesInput, _ ...func(*awsrds.Options)) (*awsrds.DescribeDBInstancesOutput, error) {
	c.markers = append(c.markers, aws.ToString(in.Marker))
	i := 0
	if m := aws.ToString(in.Marker); m != "" {
		fmt.Sscanf(m, "page-%d", &i)
	}
	out := &awsrds.DescribeDBInstancesOutput{DBInstances: c.pages[i]}
	if i+1 < len(c.pages) {
		out.Marker = aws.String(fmt.Sprintf("page-%d", i+1))
	}
	return out, nil
}

func TestResolveFollowsMarkers(t *testing.T) {
	db := types.DBInstance{DBInstanceIdentifier: aws.String("shop-db"), DBInstanceStatus: aws.String("available"), Engine: aws.String("mysql"),
		Endpoint: &types.Endpoint{Address: aws.String("shop-db.example"), Port: aws.Int32(3306)}}
	c := &pagedClient{pages: [][]types.DBInstance{{}, {db}, {}}}
	inst, err := resolve(context.Background(), c, "us-east-1", Config{Layer: "db", Identifier: "shop-db", DeclRange: declRange}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Address != "shop-db.example" || inst.Port != 3306 || inst.Engine != "mysql" {
		t.Errorf("instance = %+v", inst)
	}
	if strings.Join(c.markers, ",") != ",page-1" {
		t.Errorf("markers asked = %q, want the first page, then page-1 (and no further once found)", c.markers)
	}

	// Every page walked and no such instance: not found, after the last.
	c = &pagedClient{pages: [][]types.DBInstance{{}, {}, {}}}
	_, err = resolve(context.Background(), c, "us-east-1", Config{Layer: "db", Identifier: "shop-db", DeclRange: declRange}, nil)
	if !errors.Is(err, ErrNotFound) || len(c.markers) != 3 {
		t.Errorf("err = %v after %d pages, want ErrNotFound after 3", err, len(c.markers))
	}
}
