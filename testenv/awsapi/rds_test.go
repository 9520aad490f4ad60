package awsapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
)

// rdsClient is the real SDK client, from its standard configuration,
// pointed at srv by Serve.
func rdsClient(t *testing.T, srv *Server) *rds.Client {
	t.Helper()
	Serve(t, srv)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rds.NewFromConfig(cfg, func(o *rds.Options) { o.RetryMaxAttempts = 1 })
}

var shopCreated = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func shopDB() DBInstance {
	return DBInstance{
		Identifier: "Shop-DB", Class: "db.t3.micro", Engine: "postgres", EngineVersion: "16.3", DBName: "shop",
		MasterUsername: "shopadmin", Address: "shop-db.abc123.us-east-1.rds.amazonaws.com", Port: 5432,
		AvailabilityZone: "us-east-1b", CreateTime: shopCreated,
	}
}

// rdsError fails unless err is an API error with code, answered with
// HTTP status.
func rdsError(t *testing.T, err error, code string, status int) {
	t.Helper()
	if got := apiCode(t, err); got != code {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Errorf("err = %v, want HTTP %d", err, status)
	}
}

func TestDescribeDBInstancesByIdentifier(t *testing.T) {
	srv := New(nil)
	blog := shopDB()
	blog.Identifier, blog.Engine = "blog-db", "mysql"
	srv.AddDBInstance(blog)
	srv.AddDBInstance(shopDB())
	c := rdsClient(t, srv)
	ctx := context.Background()

	// RDS matches identifiers in any case and reports them in lower case.
	out, err := c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("SHOP-db")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DBInstances) != 1 || out.Marker != nil {
		t.Fatalf("got %d instances, marker %v", len(out.DBInstances), out.Marker)
	}
	if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !ok || id == "" {
		t.Errorf("no request id in the answer's metadata")
	}
	db := out.DBInstances[0]
	arn := "arn:aws:rds:us-east-1:000000000000:db:shop-db"
	for name, got := range map[string][2]string{
		"identifier":      {aws.ToString(db.DBInstanceIdentifier), "shop-db"},
		"class":           {aws.ToString(db.DBInstanceClass), "db.t3.micro"},
		"engine":          {aws.ToString(db.Engine), "postgres"},
		"engine version":  {aws.ToString(db.EngineVersion), "16.3"},
		"status":          {aws.ToString(db.DBInstanceStatus), "available"},
		"db name":         {aws.ToString(db.DBName), "shop"},
		"master username": {aws.ToString(db.MasterUsername), "shopadmin"},
		"zone":            {aws.ToString(db.AvailabilityZone), "us-east-1b"},
		"arn":             {aws.ToString(db.DBInstanceArn), arn},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", name, got[0], got[1])
		}
	}
	if db.Endpoint == nil || aws.ToString(db.Endpoint.Address) != "shop-db.abc123.us-east-1.rds.amazonaws.com" || aws.ToInt32(db.Endpoint.Port) != 5432 {
		t.Errorf("endpoint = %+v", db.Endpoint)
	}
	if !aws.ToTime(db.InstanceCreateTime).Equal(shopCreated) {
		t.Errorf("created = %v, want %v", db.InstanceCreateTime, shopCreated)
	}

	// By ARN too.
	out, err = c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(arn)})
	if err != nil || len(out.DBInstances) != 1 || aws.ToString(out.DBInstances[0].DBInstanceIdentifier) != "shop-db" {
		t.Fatalf("by ARN: %v, %+v", err, out)
	}

	_, err = c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("gone-db")})
	if _, ok := errors.AsType[*types.DBInstanceNotFoundFault](err); !ok {
		t.Errorf("err = %v, want the SDK's DBInstanceNotFoundFault", err)
	}
	rdsError(t, err, "DBInstanceNotFound", 404)

	_, err = c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("9lives")})
	rdsError(t, err, "InvalidParameterValue", 400)
}

func TestDescribeDBInstancesWithoutEndpoint(t *testing.T) {
	srv := New(nil)
	db := shopDB()
	db.Status, db.Address, db.Port = "creating", "", 0
	srv.AddDBInstance(db)
	out, err := rdsClient(t, srv).DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("shop-db")})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.DBInstances[0]; aws.ToString(got.DBInstanceStatus) != "creating" || got.Endpoint != nil {
		t.Errorf("status %q, endpoint %+v; want creating, none", aws.ToString(got.DBInstanceStatus), got.Endpoint)
	}
}

func TestDescribeDBInstancesFiltersAndPages(t *testing.T) {
	srv := New(nil)
	var want []string
	for i := range 45 {
		db := shopDB()
		db.Identifier = fmt.Sprintf("db-%02d", i)
		if i%3 == 0 {
			db.Engine = "mysql"
		}
		srv.AddDBInstance(db)
		want = append(want, db.Identifier)
	}
	// The same identifier again replaces, it does not add.
	again := shopDB()
	again.Identifier, again.Engine = "DB-07", "mariadb"
	srv.AddDBInstance(again)
	if got := srv.DBInstances(); len(got) != 45 || got[7].Engine != "mariadb" {
		t.Fatalf("after replacing db-07: %d instances, db-07 %+v", len(got), got[7])
	}
	c := rdsClient(t, srv)
	ctx := context.Background()

	all := func(in *rds.DescribeDBInstancesInput) ([]string, int) {
		t.Helper()
		var ids []string
		pages := 0
		p := rds.NewDescribeDBInstancesPaginator(c, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatalf("NextPage: %v", err)
			}
			pages++
			for _, db := range out.DBInstances {
				ids = append(ids, aws.ToString(db.DBInstanceIdentifier))
			}
		}
		return ids, pages
	}
	ids, pages := all(&rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(20)})
	if !slices.Equal(ids, want) || pages != 3 {
		t.Errorf("MaxRecords 20: %d pages of %v", pages, ids)
	}
	if ids, pages := all(&rds.DescribeDBInstancesInput{}); len(ids) != 45 || pages != 1 {
		t.Errorf("default MaxRecords (100): %d pages, %d instances", pages, len(ids))
	}

	ids, _ = all(&rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("engine"), Values: []string{"mysql", "mariadb"}}}})
	if len(ids) != 16 || ids[0] != "db-00" || !slices.Contains(ids, "db-07") || slices.Contains(ids, "db-01") {
		t.Errorf("engine mysql or mariadb: %v", ids)
	}
	ids, _ = all(&rds.DescribeDBInstancesInput{Filters: []types.Filter{
		{Name: aws.String("db-instance-id"), Values: []string{"db-01", "arn:aws:rds:us-east-1:000000000000:db:db-03", "db-04"}},
		{Name: aws.String("engine"), Values: []string{"mysql"}},
	}})
	if !slices.Equal(ids, []string{"db-03"}) {
		t.Errorf("db-instance-id and engine mysql: %v, want db-03 alone", ids)
	}

	_, err := c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{Filters: []types.Filter{{Name: aws.String("domain"), Values: []string{"d-1"}}}})
	rdsError(t, err, "InvalidParameterValue", 400)
	_, err = c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{MaxRecords: aws.Int32(10)})
	rdsError(t, err, "InvalidParameterValue", 400)
	_, err = c.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{Marker: aws.String("not-a-marker")})
	rdsError(t, err, "InvalidParameterValue", 400)
}

func TestRDSUnknownAction(t *testing.T) {
	srv := New(nil)
	srv.AddDBInstance(shopDB())
	_, err := rdsClient(t, srv).DeleteDBInstance(context.Background(), &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("shop-db"), SkipFinalSnapshot: aws.Bool(true)})
	rdsError(t, err, "InvalidAction", 400)
	if len(srv.DBInstances()) != 1 {
		t.Errorf("an unimplemented action changed the instances")
	}
}
