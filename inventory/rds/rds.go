// Package rds finds the Amazon RDS DB instance a layer's `rds { ... }`
// block names: its endpoint, port, engine and the rest a configure recipe
// needs to point the stack's other instances at the database. A DB
// instance is not a host: opsrun never connects to it, it only reads where
// it is.
//
// It uses aws-sdk-go-v2's standard configuration, as the EC2 inventory
// does (see package awsconfig): the credential chain, region resolution
// and AWS_ENDPOINT_URL, which is how tests point it at testenv's local
// endpoint.
package rds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/opsrun/opsrun/inventory/awsconfig"
)

// StatusAvailable is the status of a DB instance that accepts
// connections.
const StatusAvailable = "available"

// ErrNotFound means the region has no DB instance with the identifier.
var ErrNotFound = errors.New("no such RDS DB instance")

// Config is one layer's rds block.
type Config struct {
	Layer      string // the layer the DB instance stands for
	Identifier string // DBInstanceIdentifier (RDS matches it in any case)
	Region     string // empty: the SDK's resolution (AWS_REGION, the profile's region)
	Profile    string // empty: the SDK's default (AWS_PROFILE, else "default")
	// DeclRange is the rds block's header, named by every error.
	DeclRange hcl.Range
}

// Instance is a DB instance as DescribeDBInstances reports it: what
// layer.NAME.instances exposes of it.
type Instance struct {
	Layer      string
	Identifier string // as RDS spells it (lower case)
	// Address is the endpoint's DNS name and Port its port; Address is ""
	// while RDS has not given the instance an endpoint yet (creating).
	Address          string
	Port             int
	Engine           string // e.g. postgres, mysql
	EngineVersion    string
	Status           string // StatusAvailable, or creating, stopped, ...
	DBName           string // the initial database, "" when none was created
	MasterUsername   string
	AvailabilityZone string
	ARN              string
	// DeclRange is the rds block that named the instance.
	DeclRange hcl.Range
}

// Error is a failure resolving one layer's rds block: it names the
// block's file:line, the layer and the identifier.
type Error struct {
	Config Config
	Err    error
}

// Error is one line: the block's file:line, the layer, the identifier,
// then what failed.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: layer %q: rds %q: %v", rangeString(e.Config.DeclRange), e.Config.Layer, e.Config.Identifier, e.Err)
}

// Unwrap returns the failure, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Resolve asks RDS for the DB instance cfg names. A DB instance that is
// not available (being created, stopped, modified) is still returned, so
// the stack's recipes render what RDS says, and log gets a warning; one
// that does not exist is an *Error wrapping ErrNotFound.
func Resolve(ctx context.Context, cfg Config, log *slog.Logger) (*Instance, error) {
	awsCfg, err := awsconfig.Load(ctx, cfg.Region, cfg.Profile)
	if err != nil {
		return nil, &Error{Config: cfg, Err: err}
	}
	inst, err := resolve(ctx, awsrds.NewFromConfig(awsCfg), awsCfg.Region, cfg, log)
	if err != nil {
		return nil, &Error{Config: cfg, Err: err}
	}
	return inst, nil
}

// resolve is Resolve on a given client, the part tests drive with fakes
// as well as with the real endpoint. region is only for messages.
func resolve(ctx context.Context, client awsrds.DescribeDBInstancesAPIClient, region string, cfg Config, log *slog.Logger) (*Instance, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	notFound := func(err error) error {
		nf := fmt.Errorf("%w in region %s: check the identifier (`aws rds describe-db-instances` lists them), the region and the profile", ErrNotFound, region)
		if err == nil {
			return nf
		}
		return fmt.Errorf("%w: %w", nf, err)
	}
	// The answer to one identifier is one DB instance, but the paginator
	// follows a Marker should RDS ever split it.
	p := awsrds.NewDescribeDBInstancesPaginator(client, &awsrds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(cfg.Identifier)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if _, ok := errors.AsType[*types.DBInstanceNotFoundFault](err); ok && ctx.Err() == nil {
				return nil, notFound(err)
			}
			return nil, awsconfig.APIError(ctx, err, "rds", "DescribeDBInstances")
		}
		for _, db := range page.DBInstances {
			if !strings.EqualFold(aws.ToString(db.DBInstanceIdentifier), cfg.Identifier) {
				continue
			}
			inst := instanceOf(cfg, db)
			if inst.Status != StatusAvailable {
				log.Warn("RDS DB instance is not available; its endpoint is given to the stack's recipes as RDS reports it",
					"layer", cfg.Layer, "identifier", inst.Identifier, "status", inst.Status, "address", inst.Address, "rds", rangeString(cfg.DeclRange))
			}
			return inst, nil
		}
	}
	return nil, notFound(nil)
}

func instanceOf(cfg Config, db types.DBInstance) *Instance {
	inst := &Instance{
		Layer:            cfg.Layer,
		Identifier:       aws.ToString(db.DBInstanceIdentifier),
		Engine:           aws.ToString(db.Engine),
		EngineVersion:    aws.ToString(db.EngineVersion),
		Status:           aws.ToString(db.DBInstanceStatus),
		DBName:           aws.ToString(db.DBName),
		MasterUsername:   aws.ToString(db.MasterUsername),
		AvailabilityZone: aws.ToString(db.AvailabilityZone),
		ARN:              aws.ToString(db.DBInstanceArn),
		DeclRange:        cfg.DeclRange,
	}
	if db.Endpoint != nil {
		inst.Address = aws.ToString(db.Endpoint.Address)
		inst.Port = int(aws.ToInt32(db.Endpoint.Port))
	}
	return inst
}

// Vars are the DB instance's metadata as the vars of its entry in
// layer.NAME.instances: port (a number), engine, engine_version, db_name,
// master_username, identifier, status, arn and availability_zone.
func (i *Instance) Vars() map[string]cty.Value {
	return map[string]cty.Value{
		"port":              cty.NumberIntVal(int64(i.Port)),
		"engine":            cty.StringVal(i.Engine),
		"engine_version":    cty.StringVal(i.EngineVersion),
		"db_name":           cty.StringVal(i.DBName),
		"master_username":   cty.StringVal(i.MasterUsername),
		"identifier":        cty.StringVal(i.Identifier),
		"status":            cty.StringVal(i.Status),
		"arn":               cty.StringVal(i.ARN),
		"availability_zone": cty.StringVal(i.AvailabilityZone),
	}
}

func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line)
}
