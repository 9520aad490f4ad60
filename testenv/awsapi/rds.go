package awsapi

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RDS speaks the AWS Query protocol, as the SDK's RDS client sends it:
// `POST /` with a form body carrying Action and Version=2014-10-31,
// answered with XML in RDS's namespace, errors as
// <ErrorResponse><Error><Type><Code><Message></Error><RequestId>. The
// only operation is DescribeDBInstances, over the DB instances added with
// AddDBInstance: RDS layers only read where their database is.

// RDSVersion is the API version the SDK's RDS client sends.
const RDSVersion = "2014-10-31"

// rdsNamespace is the XML namespace of RDSVersion responses.
const rdsNamespace = "http://rds.amazonaws.com/doc/" + RDSVersion + "/"

// Paging limits of real DescribeDBInstances (MaxRecords), kept so that a
// client that works here does not fail against AWS.
const (
	rdsMinRecords     = 20
	rdsMaxRecords     = 100
	rdsDefaultRecords = 100
)

// DBInstance is one RDS DB instance as DescribeDBInstances reports it.
type DBInstance struct {
	// Identifier is the DBInstanceIdentifier. RDS keeps identifiers in
	// lower case and matches them case-insensitively; so does the server.
	Identifier       string
	Class            string // e.g. db.t3.micro
	Engine           string // e.g. postgres, mysql
	EngineVersion    string
	Status           string // available, creating, stopped, ...; AddDBInstance makes "" available
	DBName           string // the initial database, "" when none was created
	MasterUsername   string
	Address          string // the endpoint's DNS name; "" reports no endpoint, as while creating
	Port             int
	AvailabilityZone string
	ARN              string // AddDBInstance derives it from the identifier when ""
	CreateTime       time.Time
}

// rdsIdentifierPattern is what RDS accepts as a DB instance identifier.
var rdsIdentifierPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,62}$`)

// AddDBInstance adds dbs to the DB instances the server reports, in
// order, each replacing one with the same identifier. An empty Status is
// reported as available and an empty ARN as the identifier's ARN in
// DefaultRegion and the test account.
func (s *Server) AddDBInstance(dbs ...DBInstance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, db := range dbs {
		db.Identifier = strings.ToLower(db.Identifier)
		if db.Status == "" {
			db.Status = "available"
		}
		if db.ARN == "" {
			db.ARN = fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", DefaultRegion, testOwnerID, db.Identifier)
		}
		if i := slices.IndexFunc(s.dbInstances, func(d DBInstance) bool { return d.Identifier == db.Identifier }); i >= 0 {
			s.dbInstances[i] = db
			continue
		}
		s.dbInstances = append(s.dbInstances, db)
	}
}

// DBInstances returns a copy of the DB instances the server reports.
func (s *Server) DBInstances() []DBInstance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dbInstances)
}

// serveRDS answers one RDS Query request whose form is parsed.
func (s *Server) serveRDS(w http.ResponseWriter, action string, form url.Values, reqID string) {
	// RDS says the request id in a header too; the SDK reads it there.
	w.Header().Set("X-Amzn-Requestid", reqID)
	var (
		body any
		err  *apiError
	)
	switch action {
	case "DescribeDBInstances":
		body, err = s.describeDBInstances(form, reqID)
	default:
		err = &apiError{Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service (the local testenv endpoint implements RDS's DescribeDBInstances).", action)}
	}
	if err != nil {
		writeQueryError(w, rdsNamespace, reqID, err)
		return
	}
	writeXML(w, http.StatusOK, body)
}

// describeDBInstances implements DescribeDBInstances: DBInstanceIdentifier
// (an identifier or an ARN), Filters (db-instance-id, engine) and
// MaxRecords/Marker paging.
func (s *Server) describeDBInstances(form url.Values, reqID string) (any, *apiError) {
	invalid := func(format string, args ...any) *apiError {
		return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf(format, args...)}
	}
	id := form.Get("DBInstanceIdentifier")
	if id != "" && !strings.HasPrefix(id, "arn:") && !rdsIdentifierPattern.MatchString(id) {
		return nil, invalid("Invalid database identifier:  %s", id)
	}
	filters, ferr := rdsFilters(form)
	if ferr != nil {
		return nil, ferr
	}
	limit := rdsDefaultRecords
	if v := form.Get("MaxRecords"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < rdsMinRecords || n > rdsMaxRecords {
			return nil, invalid("Invalid value %s for MaxRecords. Must be between %d and %d", v, rdsMinRecords, rdsMaxRecords)
		}
		limit = n
	}
	start := 0
	if m := form.Get("Marker"); m != "" {
		n, ok := decodeToken(m)
		if !ok {
			return nil, invalid("The marker %q is not valid.", m)
		}
		start = n
	}

	var matched []DBInstance
	for _, db := range s.DBInstances() {
		if (id == "" || db.is(id)) && filters.match(db) {
			matched = append(matched, db)
		}
	}
	if id != "" && len(matched) == 0 {
		return nil, &apiError{Status: http.StatusNotFound, Code: "DBInstanceNotFound", Message: fmt.Sprintf("DBInstance %s not found.", id)}
	}
	if start > len(matched) {
		return nil, invalid("The marker is past the end of the results; start again without it.")
	}
	page := matched[start:]
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = encodeToken(start + limit)
	}
	out := describeDBInstancesResponse{Xmlns: rdsNamespace, Result: describeDBInstancesResult{Marker: next, DBInstances: []dbInstanceXML{}}, RequestID: reqID}
	for _, db := range page {
		out.Result.DBInstances = append(out.Result.DBInstances, dbInstanceXMLOf(db))
	}
	return out, nil
}

// is reports whether ref, an identifier in any case or an ARN, names db.
func (db DBInstance) is(ref string) bool {
	return strings.EqualFold(db.Identifier, ref) || db.ARN == ref
}

// rdsFilter is one Filters.Filter.N: a DB instance matches when the named
// attribute equals any of the values (RDS filters do not take wildcards).
type rdsFilter struct {
	name   string
	values []string
}

type rdsFilterSet []rdsFilter

// rdsFilterNames are the DescribeDBInstances filters this endpoint
// implements; RDS's others (db-cluster-id, dbi-resource-id, domain) answer
// InvalidParameterValue, so a test never passes because a filter was
// silently ignored.
var rdsFilterNames = []string{"db-instance-id", "engine"}

func rdsFilters(form url.Values) (rdsFilterSet, *apiError) {
	var fs rdsFilterSet
	for i := 1; ; i++ {
		p := "Filters.Filter." + strconv.Itoa(i) + "."
		name := form.Get(p + "Name")
		if name == "" {
			return fs, nil
		}
		if !slices.Contains(rdsFilterNames, name) {
			return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Unrecognized filter name: %s (the local testenv endpoint supports %s).", name, strings.Join(rdsFilterNames, " and "))}
		}
		vals := indexedList(form, p+"Values.Value.")
		if len(vals) == 0 {
			return nil, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The filter %s has no values.", name)}
		}
		fs = append(fs, rdsFilter{name: name, values: vals})
	}
}

func (fs rdsFilterSet) match(db DBInstance) bool {
	for _, f := range fs {
		if !slices.ContainsFunc(f.values, func(v string) bool {
			if f.name == "engine" {
				return db.Engine == v
			}
			return db.is(v) // db-instance-id: identifiers or ARNs
		}) {
			return false
		}
	}
	return true
}

// The response types follow RDS's XML element names, the ones the SDK's
// deserializer looks for.
type describeDBInstancesResponse struct {
	XMLName   xml.Name                  `xml:"DescribeDBInstancesResponse"`
	Xmlns     string                    `xml:"xmlns,attr"`
	Result    describeDBInstancesResult `xml:"DescribeDBInstancesResult"`
	RequestID string                    `xml:"ResponseMetadata>RequestId"`
}

type describeDBInstancesResult struct {
	DBInstances []dbInstanceXML `xml:"DBInstances>DBInstance"`
	Marker      string          `xml:"Marker,omitempty"`
}

type dbInstanceXML struct {
	DBInstanceIdentifier string       `xml:"DBInstanceIdentifier"`
	DBInstanceClass      string       `xml:"DBInstanceClass,omitempty"`
	Engine               string       `xml:"Engine"`
	EngineVersion        string       `xml:"EngineVersion,omitempty"`
	DBInstanceStatus     string       `xml:"DBInstanceStatus"`
	MasterUsername       string       `xml:"MasterUsername,omitempty"`
	DBName               string       `xml:"DBName,omitempty"`
	Endpoint             *endpointXML `xml:"Endpoint,omitempty"`
	AvailabilityZone     string       `xml:"AvailabilityZone,omitempty"`
	DBInstanceArn        string       `xml:"DBInstanceArn"`
	InstanceCreateTime   string       `xml:"InstanceCreateTime,omitempty"`
	MultiAZ              bool         `xml:"MultiAZ"`
}

type endpointXML struct {
	Address string `xml:"Address"`
	Port    int    `xml:"Port"`
}

func dbInstanceXMLOf(db DBInstance) dbInstanceXML {
	x := dbInstanceXML{
		DBInstanceIdentifier: db.Identifier,
		DBInstanceClass:      db.Class,
		Engine:               db.Engine,
		EngineVersion:        db.EngineVersion,
		DBInstanceStatus:     db.Status,
		MasterUsername:       db.MasterUsername,
		DBName:               db.DBName,
		AvailabilityZone:     db.AvailabilityZone,
		DBInstanceArn:        db.ARN,
	}
	if db.Address != "" {
		x.Endpoint = &endpointXML{Address: db.Address, Port: db.Port}
	}
	if !db.CreateTime.IsZero() {
		x.InstanceCreateTime = db.CreateTime.UTC().Format(time.RFC3339)
	}
	return x
}

// queryErrorResponse is the error envelope of the AWS Query protocol
// services other than EC2 (RDS, ELBv2), whose envelope differs.
type queryErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

// writeQueryError answers e in the Query protocol's error envelope, in
// the service's XML namespace. Every error this endpoint makes is the
// caller's, hence Type Sender.
func writeQueryError(w http.ResponseWriter, namespace, reqID string, e *apiError) {
	status := http.StatusBadRequest
	if e.Status != 0 {
		status = e.Status
	}
	writeXML(w, status, queryErrorResponse{Xmlns: namespace, Type: "Sender", Code: e.Code, Message: e.Message, RequestID: reqID})
}
