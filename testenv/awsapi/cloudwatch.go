package awsapi

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// CloudWatch in aws-sdk-go-v2 (service/cloudwatch v1.75) speaks Smithy RPC
// v2 CBOR: `POST /service/GraniteServiceVersion20100801/operation/OP` with
// a CBOR body and the header Smithy-Protocol: rpc-v2-cbor; replies carry
// the same header and a CBOR map, errors a map with __type and message.
const (
	cloudWatchPathPrefix = "/service/GraniteServiceVersion20100801/operation/"
	smithyProtocol       = "rpc-v2-cbor"
	// maxMetricDatums is CloudWatch's limit of datums per PutMetricData.
	maxMetricDatums = 1000
	// maxCBORBytes bounds a request body: CloudWatch's own limit for a
	// PutMetricData payload is 1 MB.
	maxCBORBytes = 1 << 20
)

// MetricDatum is one datum PutMetricData received, in the namespace of its
// request.
type MetricDatum struct {
	Namespace  string
	MetricName string
	Dimensions map[string]string
	Value      float64
	Unit       string
	Timestamp  time.Time
}

// putMetricDataInput is PutMetricData's request as the SDK encodes it:
// member names as map keys.
type putMetricDataInput struct {
	Namespace  string            `cbor:"Namespace"`
	MetricData []cborMetricDatum `cbor:"MetricData"`
}

type cborMetricDatum struct {
	MetricName string          `cbor:"MetricName"`
	Dimensions []cborDimension `cbor:"Dimensions"`
	Value      *float64        `cbor:"Value"`
	Unit       string          `cbor:"Unit"`
	Timestamp  *time.Time      `cbor:"Timestamp"`
}

type cborDimension struct {
	Name  string `cbor:"Name"`
	Value string `cbor:"Value"`
}

// PutMetricDataRequests returns the datums of every PutMetricData request
// received so far, one slice per request, in arrival order.
func (s *Server) PutMetricDataRequests() [][]MetricDatum {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]MetricDatum, len(s.metricRequests))
	for i, req := range s.metricRequests {
		out[i] = append([]MetricDatum(nil), req...)
	}
	return out
}

func (s *Server) serveCloudWatch(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.URL.Path, cloudWatchPathPrefix)
	if r.Method != http.MethodPost || r.Header.Get("Smithy-Protocol") != smithyProtocol {
		writeCBORError(w, http.StatusBadRequest, "InvalidRequest", "CloudWatch takes POST requests with the header Smithy-Protocol: rpc-v2-cbor.")
		return
	}
	var in io.Reader = http.MaxBytesReader(w, r.Body, maxCBORBytes)
	// The SDK gzips PutMetricData bodies (request compression, signed as
	// Content-Encoding: gzip), as real CloudWatch accepts.
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(in)
		if err != nil {
			writeCBORError(w, http.StatusBadRequest, "SerializationException", "Content-Encoding is gzip but the body is not: "+err.Error())
			return
		}
		defer zr.Close()
		in = io.LimitReader(zr, maxCBORBytes+1)
	}
	body, err := io.ReadAll(in)
	if err == nil && len(body) > maxCBORBytes {
		err = fmt.Errorf("the body is larger than %d bytes", maxCBORBytes)
	}
	if err != nil {
		writeCBORError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body could not be read: "+err.Error())
		return
	}
	switch op {
	case "PutMetricData":
		if e := s.putMetricData(body); e != nil {
			writeCBORError(w, http.StatusBadRequest, e.Code, e.Message)
			return
		}
		writeCBOR(w, http.StatusOK, map[string]any{})
	default:
		writeCBORError(w, http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("The operation %s is not implemented by the local testenv endpoint (it implements CloudWatch PutMetricData).", op))
	}
}

func (s *Server) putMetricData(body []byte) *apiError {
	var in putMetricDataInput
	if err := cbor.Unmarshal(body, &in); err != nil {
		return &apiError{Code: "SerializationException", Message: "The request body is not PutMetricData's CBOR: " + err.Error()}
	}
	switch {
	case in.Namespace == "":
		return &apiError{Code: "MissingParameter", Message: "The parameter Namespace is required."}
	case len(in.MetricData) == 0:
		return &apiError{Code: "MissingParameter", Message: "The parameter MetricData is required."}
	case len(in.MetricData) > maxMetricDatums:
		return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("The collection MetricData must not have a size greater than %d (it has %d).", maxMetricDatums, len(in.MetricData))}
	}
	got := make([]MetricDatum, 0, len(in.MetricData))
	for i, d := range in.MetricData {
		if d.MetricName == "" || d.Value == nil {
			return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("MetricData.member.%d needs MetricName and Value.", i+1)}
		}
		md := MetricDatum{Namespace: in.Namespace, MetricName: d.MetricName, Value: *d.Value, Unit: d.Unit, Dimensions: map[string]string{}}
		if d.Timestamp != nil {
			md.Timestamp = *d.Timestamp
		}
		for _, dim := range d.Dimensions {
			if dim.Name == "" || dim.Value == "" {
				return &apiError{Code: "InvalidParameterValue", Message: fmt.Sprintf("MetricData.member.%d has a dimension without a name or a value.", i+1)}
			}
			md.Dimensions[dim.Name] = dim.Value
		}
		got = append(got, md)
	}
	s.mu.Lock()
	s.metricRequests = append(s.metricRequests, got)
	s.mu.Unlock()
	return nil
}

func writeCBORError(w http.ResponseWriter, status int, code, message string) {
	writeCBOR(w, status, map[string]any{"__type": code, "message": message})
}

func writeCBOR(w http.ResponseWriter, status int, v any) {
	out, err := cbor.Marshal(v)
	if err != nil {
		// Only a programming error in the response values gets here.
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Smithy-Protocol", smithyProtocol)
	w.Header().Set("Content-Type", "application/cbor")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
