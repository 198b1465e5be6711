// Command client is the UserService client.
//
//	client [--target localhost:50051] [--tls [--ca ca.pem] [--server-name localhost]]
//	client --matrix --prefix P [--target ...] [--tls ...]
//
// Without --matrix it runs the documentation's client flow and prints what happened; a failed call
// is printed, not fatal. With --matrix it runs the interop check list and prints one JSON object,
// {"client":"go","observations":[...]}, to stdout. It exits non-zero only for bad flags (2) or when
// the connection cannot be set up (1); failed checks are for the runner to judge.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/polyrpc/polyrpc/interop/go/client"
	userpb "github.com/polyrpc/polyrpc/interop/go/gen/user"
)

// connectTimeout bounds how long --matrix waits for the connection before giving up.
const connectTimeout = 10 * time.Second

func main() {
	target := flag.String("target", "localhost:50051", "server address (host:port or a gRPC target URI)")
	matrix := flag.Bool("matrix", false, "run the interop check list and print one JSON object")
	prefix := flag.String("prefix", "", "with --matrix: prefix that makes the check's usernames unique")
	useTLS := flag.Bool("tls", false, "connect with TLS")
	ca := flag.String("ca", "", "with --tls: PEM file of the CA certificates to trust (default: system roots)")
	serverName := flag.String("server-name", "", "with --tls: name to check the server certificate against")
	flag.Parse()
	if flag.NArg() > 0 {
		usage("unexpected arguments: %v", flag.Args())
	}
	if *matrix && *prefix == "" {
		usage("--matrix needs --prefix")
	}
	if !*matrix && *prefix != "" {
		usage("--prefix goes with --matrix")
	}
	if !*useTLS && (*ca != "" || *serverName != "") {
		usage("--ca and --server-name go with --tls")
	}

	conn, err := client.Dial(*target, client.TLSOptions{Enabled: *useTLS, CAFile: *ca, ServerName: *serverName})
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		os.Exit(1)
	}
	defer conn.Close()

	ctx := context.Background()
	if !*matrix {
		client.Demo(ctx, conn, os.Stdout)
		return
	}

	if err := waitReady(ctx, conn); err != nil {
		fmt.Fprintf(os.Stderr, "client: cannot connect to %s: %v\n", *target, err)
		conn.Close()
		os.Exit(1)
	}
	out, err := json.Marshal(client.Matrix(ctx, conn, *prefix))
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

// waitReady connects and waits until the connection is READY (TCP, TLS and HTTP/2 set up), so that
// an unreachable or misconfigured server is reported as such rather than as thirteen failed checks.
// The first failed attempt (TRANSIENT_FAILURE) ends the wait.
func waitReady(ctx context.Context, conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn.Connect()
	for {
		switch s := conn.GetState(); s {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure:
			// A call that does not wait for the connection fails at once with the reason.
			_, err := userpb.NewUserServiceClient(conn).GetUser(ctx, &userpb.GetUserRequest{})
			if err == nil || status.Code(err) != codes.Unavailable {
				return nil // the channel recovered meanwhile
			}
			return err
		default:
			if !conn.WaitForStateChange(ctx, s) {
				return fmt.Errorf("still %s after %s", s, connectTimeout)
			}
		}
	}
}

func usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "client: "+format+"\n", args...)
	flag.Usage()
	os.Exit(2)
}
