// Command server runs the documentation's Go UserService server (see package server).
//
//	server [--port 50051] [--tls-cert cert.pem --tls-key key.pem] [--drain-timeout 10s]
//
// Once it listens it prints exactly one line to stdout, {"listening":<port>}; logs go to stderr.
// SIGTERM or SIGINT stops it gracefully: it stops accepting connections, sends GOAWAY, lets running
// calls finish for up to --drain-timeout (default 10s), then cancels the rest and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/polyrpc/polyrpc/interop/go/server"
)

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetOutput(os.Stderr)

	port := flag.Int("port", 50051, "TCP port to listen on (0 picks a free port)")
	certFile := flag.String("tls-cert", "", "PEM certificate chain; with --tls-key, serve TLS")
	keyFile := flag.String("tls-key", "", "PEM private key; with --tls-cert, serve TLS")
	drainTimeout := flag.Duration("drain-timeout", 10*time.Second, "on SIGTERM/SIGINT, how long running calls may go on before they are cancelled")
	flag.Parse()
	if flag.NArg() > 0 {
		usage("unexpected arguments: %v", flag.Args())
	}
	if *port < 0 || *port > 65535 {
		usage("--port must be 0-65535")
	}
	if (*certFile == "") != (*keyFile == "") {
		usage("--tls-cert and --tls-key go together")
	}

	var opts []grpc.ServerOption
	if *certFile != "" {
		creds, err := credentials.NewServerTLSFromFile(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("Failed to load TLS key pair: %v", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}

	lis, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(*port)))
	if err != nil {
		log.Fatalf("Failed to listen: %v", err)
	}
	s := server.NewGRPCServer(opts...)

	actual := lis.Addr().(*net.TCPAddr).Port
	fmt.Printf("{\"listening\":%d}\n", actual)
	mode := "plaintext"
	if *certFile != "" {
		mode = "TLS"
	}
	log.Printf("Server started on :%d (%s)", actual, mode)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process the default way
		log.Printf("Shutting down: draining calls for up to %s", *drainTimeout)
		timer := time.AfterFunc(*drainTimeout, func() {
			log.Printf("Drain timeout: cancelling the remaining calls")
			s.Stop()
		})
		s.GracefulStop()
		timer.Stop()
	}()

	if err := s.Serve(lis); err != nil {
		log.Fatalf("Failed to serve: %v", err)
	}
	log.Printf("Server stopped")
}

func usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "server: "+format+"\n", args...)
	flag.Usage()
	os.Exit(2)
}
