// Command echo is a tiny static HTTP server used by smoke.sh as a test
// workload: it needs no writable filesystem and runs as any non-root user.
//
//	GET /healthz -> "ok"
//	GET /*       -> "echo <hostname> <path>"
//
// `echo get URL [CA-FILE]` is a client instead: it GETs URL (trusting CA-FILE
// for https), prints the body and exits non-zero unless the status is 200.
// With GET_RETRY_SECONDS=N it retries a failed GET once a second for N seconds.
//
// `echo write FILE` writes "ok" to FILE and reads it back (a volume check).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func get(url, caFile string) error {
	tr := &http.Transport{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s", body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "write" {
		if err := os.WriteFile(os.Args[2], []byte("ok\n"), 0o644); err != nil {
			log.Fatal(err)
		}
		b, err := os.ReadFile(os.Args[2])
		if err != nil || string(b) != "ok\n" {
			log.Fatalf("read back %q: %v", b, err)
		}
		fmt.Printf("wrote %s\n", os.Args[2])
		return
	}
	if len(os.Args) >= 3 && os.Args[1] == "get" {
		ca := ""
		if len(os.Args) > 3 {
			ca = os.Args[3]
		}
		retry, _ := time.ParseDuration(os.Getenv("GET_RETRY_SECONDS") + "s")
		deadline := time.Now().Add(retry)
		for {
			err := get(os.Args[2], ca)
			if err == nil {
				return
			}
			fmt.Fprintln(os.Stderr, err)
			if time.Now().After(deadline) {
				os.Exit(1)
			}
			time.Sleep(time.Second)
		}
	}
	addr := ":8080"
	if p := os.Getenv("PORT"); p != "" {
		addr = ":" + p
	}
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
		fmt.Fprintf(w, "echo %s %s\n", host, r.URL.Path)
	})
	go func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
		os.Exit(0)
	}()
	log.Printf("listening on %s as uid %d", addr, os.Getuid())
	log.Fatal(http.ListenAndServe(addr, mux))
}
