// Package client holds the UserService client: the documentation's client flow (Demo) and the
// interop check list the cross-language matrix runs (Matrix).
package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLSOptions configures a TLS connection. A zero value means plaintext.
type TLSOptions struct {
	Enabled bool
	// CAFile is a PEM file with the certificates to trust; empty trusts the system's roots.
	CAFile string
	// ServerName overrides the name the server's certificate is checked against (by default the
	// host part of the target).
	ServerName string
}

// Dial returns a client connection to target. It does not connect yet (grpc.NewClient connects on
// the first call); it fails only for a bad target or TLS settings.
func Dial(target string, tlsOpts TLSOptions) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tlsOpts.Enabled {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: tlsOpts.ServerName}
		if tlsOpts.CAFile != "" {
			pem, err := os.ReadFile(tlsOpts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("reading the CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no PEM certificate in %s", tlsOpts.CAFile)
			}
			cfg.RootCAs = pool
		}
		creds = credentials.NewTLS(cfg)
	} else if tlsOpts.CAFile != "" || tlsOpts.ServerName != "" {
		return nil, fmt.Errorf("--ca and --server-name need --tls")
	}
	return grpc.NewClient(target, grpc.WithTransportCredentials(creds))
}

var codeNames = map[codes.Code]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// CodeName returns the canonical upper snake case name of a gRPC status code ("NOT_FOUND").
func CodeName(c codes.Code) string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return fmt.Sprintf("CODE(%d)", uint32(c))
}
