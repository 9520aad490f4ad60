// Package awsapi is a local AWS endpoint for tests and `opsrun testenv`: an
// http.Handler that speaks the wire protocols aws-sdk-go-v2 sends, for
// exactly the operations opsrun uses, so that opsrun's production code
// runs unchanged against it with only AWS_ENDPOINT_URL (and static test
// credentials) set in the environment.
//
// EC2 uses the EC2 Query protocol: `POST /` with a form-encoded body
// carrying Action and Version=2016-11-15, answered with XML in EC2's
// namespace, errors as <Response><Errors><Error> with HTTP 400. An
// operation this server does not implement answers InvalidAction, so a
// missing operation shows up as an AWS error rather than a silent success.
//
// CloudWatch's PutMetricData is answered in Smithy RPC v2 CBOR and its
// datums recorded for tests (see cloudwatch.go); other CloudWatch
// operations answer UnknownOperationException.
//
// EC2 instances can be launched, stopped, started and terminated
// (RunInstances, StopInstances, StartInstances, TerminateInstances) and
// DescribeInstances reports them with EC2's state transitions. A server
// from New keeps them in memory only; one from NewWithBackend has a
// Backend run a machine for each, e.g. a container of a testenv fleet
// (NewFleetServer), so a launched instance really answers SSH. See
// lifecycle.go.
package awsapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// EC2Version is the API version the SDK's EC2 client sends and the one
// whose XML namespace the responses use.
const EC2Version = "2016-11-15"

// ec2Namespace is the XML namespace of EC2Version responses.
const ec2Namespace = "http://ec2.amazonaws.com/doc/" + EC2Version + "/"

// maxFormBytes bounds a request body; real EC2 requests are a few KB.
const maxFormBytes = 1 << 20

// Server is the local EC2 endpoint. Its zero value is not usable; build it
// with New or NewWithBackend. It is safe for concurrent use.
type Server struct {
	// PageSize is the page size DescribeInstances uses when a request has
	// no MaxResults (0 means every match in one page). Real EC2 may also
	// paginate unasked, and a non-zero PageSize lets tests prove a client
	// follows NextToken without asking for small pages itself.
	PageSize int

	mu        sync.Mutex
	instances []Instance
	// life is the instances' lifecycle: backend, operations in flight,
	// idempotency tokens (lifecycle.go).
	life lifecycle
	// metricRequests are the PutMetricData requests received (cloudwatch.go).
	metricRequests [][]MetricDatum
	// dbInstances are the RDS DB instances the server reports (rds.go).
	dbInstances []DBInstance
	// elb is the ELBv2 target groups and their targets (elbv2.go).
	elb elbState
}

// New returns a server reporting instances, in order, with no backend:
// RunInstances, StopInstances, StartInstances and TerminateInstances only
// change the bookkeeping, each answering with the transitional state
// (pending, stopping, shutting-down) and moving the instance to the final
// one at once, so the next DescribeInstances reports it. That suits
// hermetic tests of clients; nothing runs.
func New(instances []Instance) *Server {
	return &Server{instances: cloneInstances(instances)}
}

// Instances returns a copy of the instances the server reports.
func (s *Server) Instances() []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneInstances(s.instances)
}

func cloneInstances(in []Instance) []Instance {
	out := make([]Instance, len(in))
	for i, inst := range in {
		out[i] = inst
		if inst.Tags != nil {
			out[i].Tags = make(map[string]string, len(inst.Tags))
			for k, v := range inst.Tags {
				out[i].Tags[k] = v
			}
		}
		out[i].SecurityGroups = append([]SecurityGroup(nil), inst.SecurityGroups...)
	}
	return out
}

// ServeHTTP answers one EC2 Query request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, cloudWatchPathPrefix) {
		s.serveCloudWatch(w, r)
		return
	}
	reqID := newRequestID()
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeError(w, reqID, &apiError{Code: "InvalidHttpRequest", Message: "The EC2 Query API takes POST (or GET) requests, not " + r.Method + "."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeError(w, reqID, &apiError{Code: "MalformedQueryString", Message: "The request body is not a valid form: " + err.Error()})
		return
	}
	action := r.Form.Get("Action")
	if action == "" {
		writeError(w, reqID, &apiError{Code: "MissingAction", Message: "The request must contain the parameter Action."})
		return
	}
	if r.Form.Get("Version") == RDSVersion {
		s.serveRDS(w, action, r.Form, reqID)
		return
	}
	if r.Form.Get("Version") == ELBv2Version {
		s.serveELBv2(w, action, r.Form, reqID)
		return
	}
	if v := r.Form.Get("Version"); v != EC2Version {
		writeError(w, reqID, &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("Version %q is not supported; this endpoint speaks %s.", v, EC2Version)})
		return
	}
	var (
		body any
		err  *apiError
	)
	switch action {
	case "DescribeInstances":
		body, err = s.describeInstances(r.Context(), r.Form, reqID)
	case "RunInstances":
		body, err = s.runInstances(r.Context(), r.Form, reqID)
	case "StopInstances", "StartInstances", "TerminateInstances":
		body, err = s.changeInstanceStates(r.Context(), action, r.Form, reqID)
	default:
		err = &apiError{Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service (the local testenv endpoint implements DescribeInstances, RunInstances, StopInstances, StartInstances and TerminateInstances).", action)}
	}
	if err != nil {
		writeError(w, reqID, err)
		return
	}
	writeXML(w, http.StatusOK, body)
}

// apiError is an EC2 error response: Code is what the SDK exposes as the
// error code (smithy.APIError.ErrorCode).
type apiError struct {
	Code    string
	Message string
	// Status is the HTTP status; 0 means 400, a client error.
	Status int
}

type errorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Errors    []apiErr `xml:"Errors>Error"`
	RequestID string   `xml:"RequestID"`
}

type apiErr struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	status := http.StatusBadRequest
	if e.Status != 0 {
		status = e.Status
	}
	writeXML(w, status, errorResponse{Errors: []apiErr{{Code: e.Code, Message: e.Message}}, RequestID: reqID})
}

func writeXML(w http.ResponseWriter, status int, body any) {
	out, err := xml.Marshal(body)
	if err != nil {
		// Only a programming error in the response types gets here.
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

// newRequestID makes a UUID-shaped request id, as EC2's.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
