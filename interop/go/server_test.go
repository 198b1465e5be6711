package interop_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/polyrpc/polyrpc/interop/go/client"
	userpb "github.com/polyrpc/polyrpc/interop/go/gen/user"
	"github.com/polyrpc/polyrpc/interop/go/server"
)

// startServer serves a fresh UserService on a free loopback port and returns its address.
func startServer(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := server.NewGRPCServer(opts...)
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func dial(t *testing.T, target string, tlsOpts client.TLSOptions) *grpc.ClientConn {
	t.Helper()
	conn, err := client.Dial(target, tlsOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// expectMatrix checks a matrix report, in its JSON form as the runner reads it, against the
// documented behaviour of this server. listCount is how many users ListUsers should see.
func expectMatrix(t *testing.T, reportJSON []byte, prefix string, listCount int) {
	t.Helper()
	var report struct {
		Client       string `json:"client"`
		Observations []struct {
			Check   string          `json:"check"`
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Value   json.RawMessage `json:"value"`
		} `json:"observations"`
	}
	dec := json.NewDecoder(strings.NewReader(string(reportJSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&report); err != nil {
		t.Fatalf("report is not the expected JSON: %v\n%s", err, reportJSON)
	}
	if report.Client != "go" {
		t.Errorf("client = %q, want go", report.Client)
	}

	var created struct{ ID, Username, Email string }
	if len(report.Observations) > 0 {
		_ = json.Unmarshal(report.Observations[0].Value, &created)
	}
	if created.ID == "" {
		t.Fatalf("create returned no id:\n%s", reportJSON)
	}
	id, _ := json.Marshal(created.ID)
	p := prefix
	trailingHex := hex.EncodeToString(client.TrailingBinValue(p))

	type want struct{ check, code, message, value string } // message "*": any; value is JSON
	wants := []want{
		{"create", "OK", "", fmt.Sprintf(`{"id":%s,"username":"%s-a","email":"%s-a@example.com"}`, id, p, p)},
		{"get", "OK", "", fmt.Sprintf(`{"id":%s,"username":"%s-a"}`, id, p)},
		{"update", "UNIMPLEMENTED", "method UpdateUser not implemented", `null`},
		{"list", "OK", "", fmt.Sprintf(`{"count":%d,"containsCreated":true}`, listCount)},
		{"create_many", "OK", "", `{"count":3}`},
		{"chat", "OK", "", fmt.Sprintf(`{"texts":["Echo: m0","Echo: m1","Echo: m2"],"userIds":["u-%s","u-%s","u-%s"]}`, p, p, p)},
		{"metadata", "OK", "", fmt.Sprintf(`{"initial":"ascii-%s","trailingBinHex":"%s"}`, p, trailingHex)},
		{"delete", "UNIMPLEMENTED", "method DeleteUser not implemented", `null`},
		{"get_deleted", "OK", "", fmt.Sprintf(`{"id":%s}`, id)},
		{"get_empty_id", "NOT_FOUND", "User not found", `null`},
		{"get_unknown", "NOT_FOUND", "User not found", `null`},
		{"deadline", "DEADLINE_EXCEEDED", "*", `null`},
		{"cancel", "CANCELLED", "*", `{"echoed":"Echo: c0"}`},
	}
	if len(report.Observations) != len(wants) {
		t.Fatalf("%d observations, want %d:\n%s", len(report.Observations), len(wants), reportJSON)
	}
	for i, w := range wants {
		o := report.Observations[i]
		if o.Check != w.check {
			t.Errorf("observation %d is %q, want %q", i, o.Check, w.check)
			continue
		}
		if o.Code != w.code || (w.message != "*" && o.Message != w.message) {
			t.Errorf("%s: %s %q, want %s %q", w.check, o.Code, o.Message, w.code, w.message)
		}
		if string(o.Value) != w.value {
			t.Errorf("%s: value %s, want %s", w.check, o.Value, w.value)
		}
	}
}

func runMatrix(t *testing.T, conn *grpc.ClientConn, prefix string) []byte {
	t.Helper()
	out, err := json.Marshal(client.Matrix(context.Background(), conn, prefix))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMatrixPlaintext(t *testing.T) {
	addr := startServer(t)
	conn := dial(t, addr, client.TLSOptions{})
	expectMatrix(t, runMatrix(t, conn, "plain"), "plain", 1)
	// A second run sees the first run's five users (a, b0-b2, m; DeleteUser is unimplemented) and
	// its own "-a".
	expectMatrix(t, runMatrix(t, conn, "again"), "again", 6)
}

func TestMatrixTLS(t *testing.T) {
	pki := newTestPKI(t)
	creds, err := credentials.NewServerTLSFromFile(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, grpc.Creds(creds))
	_, port, _ := net.SplitHostPort(addr)

	t.Run("server name override", func(t *testing.T) {
		conn := dial(t, addr, client.TLSOptions{Enabled: true, CAFile: pki.CAFile, ServerName: "localhost"})
		expectMatrix(t, runMatrix(t, conn, "tls1"), "tls1", 1)
	})
	t.Run("name from the target", func(t *testing.T) {
		conn := dial(t, "localhost:"+port, client.TLSOptions{Enabled: true, CAFile: pki.CAFile})
		expectMatrix(t, runMatrix(t, conn, "tls2"), "tls2", 6)
	})
	t.Run("untrusted CA", func(t *testing.T) {
		other := newTestPKI(t)
		conn := dial(t, addr, client.TLSOptions{Enabled: true, CAFile: other.CAFile, ServerName: "localhost"})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := userpb.NewUserServiceClient(conn).GetUser(ctx, &userpb.GetUserRequest{Id: "x"})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("GetUser over an untrusted certificate: %v, want UNAVAILABLE", err)
		}
	})
	t.Run("plaintext client", func(t *testing.T) {
		conn := dial(t, addr, client.TLSOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := userpb.NewUserServiceClient(conn).GetUser(ctx, &userpb.GetUserRequest{Id: "x"})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("plaintext GetUser against a TLS server: %v, want UNAVAILABLE", err)
		}
	})
}

func TestDocumentedBehaviour(t *testing.T) {
	addr := startServer(t)
	c := userpb.NewUserServiceClient(dial(t, addr, client.TLSOptions{}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := c.GetUser(ctx, &userpb.GetUserRequest{Id: "123"})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "User not found" {
		t.Errorf("GetUser unknown id: %v, want NOT_FOUND \"User not found\"", err)
	}
	_, err = c.UpdateUser(ctx, &userpb.UpdateUserRequest{Id: "123"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("UpdateUser: %v, want UNIMPLEMENTED", err)
	}
	_, err = c.DeleteUser(ctx, &userpb.DeleteUserRequest{Id: "123"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("DeleteUser: %v, want UNIMPLEMENTED", err)
	}

	u, err := c.CreateUser(ctx, &userpb.CreateUserRequest{Username: "ann", Email: "ann@example.com", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if len(u.GetId()) != 36 || u.GetUsername() != "ann" || u.GetEmail() != "ann@example.com" || u.GetCreatedAt() == 0 {
		t.Errorf("CreateUser returned %v", u)
	}
	got, err := c.GetUser(ctx, &userpb.GetUserRequest{Id: u.GetId()})
	if err != nil || got.GetUsername() != "ann" {
		t.Errorf("GetUser of the created user: %v, %v", got, err)
	}

	// ListUsers streams the users oldest first, pausing 100 ms after each one.
	cs, err := c.CreateUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := cs.Send(&userpb.CreateUserRequest{Username: fmt.Sprintf("u%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cs.CloseAndRecv()
	if err != nil || resp.GetCount() != 2 || len(resp.GetUsers()) != 2 {
		t.Fatalf("CreateUsers: %v, %v", resp, err)
	}
	start := time.Now()
	ls, err := c.ListUsers(ctx, &userpb.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		u, err := ls.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, u.GetUsername())
	}
	if strings.Join(names, ",") != "ann,u0,u1" {
		t.Errorf("ListUsers sent %v, want ann,u0,u1", names)
	}
	if elapsed := time.Since(start); elapsed < 3*server.ListDelay {
		t.Errorf("ListUsers took %v, want at least %v (the documented delay)", elapsed, 3*server.ListDelay)
	}
}

func TestMetadataEcho(t *testing.T) {
	addr := startServer(t)
	c := userpb.NewUserServiceClient(dial(t, addr, client.TLSOptions{}))
	bin := string([]byte{0, 0xff, 0x10, 'x'})
	md := metadata.Pairs(server.EchoInitialKey, "hello", server.EchoTrailingBinKey, bin)

	check := func(t *testing.T, header, trailer metadata.MD) {
		t.Helper()
		if v := header.Get(server.EchoInitialKey); len(v) != 1 || v[0] != "hello" {
			t.Errorf("header %s = %q, want [hello]", server.EchoInitialKey, v)
		}
		if v := trailer.Get(server.EchoTrailingBinKey); len(v) != 1 || v[0] != bin {
			t.Errorf("trailer %s = %q, want [%q]", server.EchoTrailingBinKey, v, bin)
		}
	}

	t.Run("unary error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), 5*time.Second)
		defer cancel()
		var header, trailer metadata.MD
		_, err := c.GetUser(ctx, &userpb.GetUserRequest{Id: "nope"}, grpc.Header(&header), grpc.Trailer(&trailer))
		if status.Code(err) != codes.NotFound {
			t.Fatalf("GetUser: %v", err)
		}
		check(t, header, trailer)
	})
	t.Run("stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), 5*time.Second)
		defer cancel()
		stream, err := c.Chat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&userpb.ChatMessage{Text: "hi"}); err != nil {
			t.Fatal(err)
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		header, err := stream.Header()
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := stream.Recv(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		check(t, header, stream.Trailer())
	})
	t.Run("none asked", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var header, trailer metadata.MD
		if _, err := c.CreateUser(ctx, &userpb.CreateUserRequest{Username: "z"}, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
			t.Fatal(err)
		}
		if len(header.Get(server.EchoInitialKey)) != 0 || len(trailer.Get(server.EchoTrailingBinKey)) != 0 {
			t.Errorf("echoed metadata nobody sent: %v %v", header, trailer)
		}
	})
}

// TestListUsersStopsWithItsCall checks that ListUsers returns as soon as its call is cancelled or
// its deadline passes, instead of sleeping through the remaining users.
func TestListUsersStopsWithItsCall(t *testing.T) {
	type ended struct {
		err error
		at  time.Time
	}
	ends := make(chan ended, 4)
	record := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		if info.FullMethod == userpb.UserService_ListUsers_FullMethodName {
			ends <- ended{err, time.Now()}
		}
		return err
	}
	addr := startServer(t, grpc.ChainStreamInterceptor(record))
	c := userpb.NewUserServiceClient(dial(t, addr, client.TLSOptions{}))
	for i := range 50 { // 5 s of listing
		if _, err := c.CreateUser(context.Background(), &userpb.CreateUserRequest{Username: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stream, err := c.ListUsers(ctx, &userpb.ListUsersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		cancelled := time.Now()
		cancel()
		select {
		case e := <-ends:
			if took := e.at.Sub(cancelled); took > time.Second {
				t.Errorf("handler returned %v after the cancel", took)
			}
			if status.Code(e.err) != codes.Canceled {
				t.Errorf("handler returned %v, want CANCELLED", e.err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("ListUsers kept running after its call was cancelled")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		stream, err := c.ListUsers(ctx, &userpb.ListUsersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			_, err := stream.Recv()
			if err != nil {
				if status.Code(err) != codes.DeadlineExceeded {
					t.Errorf("client: %v, want DEADLINE_EXCEEDED", err)
				}
				break
			}
			n++
		}
		if n < 1 || n > 4 {
			t.Errorf("received %d users in 250 ms, want 1-4 at 100 ms apiece", n)
		}
		select {
		case e := <-ends:
			if c := status.Code(e.err); c != codes.DeadlineExceeded && c != codes.Canceled {
				t.Errorf("handler returned %v, want DEADLINE_EXCEEDED or CANCELLED", e.err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("ListUsers kept running after its deadline")
		}
	})
}

// TestConcurrentUse drives every implemented method from many goroutines at once; run with -race
// it fails if the user map is touched without its lock.
func TestConcurrentUse(t *testing.T) {
	addr := startServer(t)
	c := userpb.NewUserServiceClient(dial(t, addr, client.TLSOptions{}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				u, err := c.CreateUser(ctx, &userpb.CreateUserRequest{Username: fmt.Sprintf("g%d-%d", g, i)})
				if err != nil {
					errs <- err
					return
				}
				if _, err := c.GetUser(ctx, &userpb.GetUserRequest{Id: u.GetId()}); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			cs, err := c.CreateUsers(ctx)
			if err != nil {
				errs <- err
				return
			}
			for i := range 10 {
				if err := cs.Send(&userpb.CreateUserRequest{Username: fmt.Sprintf("s%d-%d", g, i)}); err != nil {
					errs <- err
					return
				}
			}
			if _, err := cs.CloseAndRecv(); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			lctx, lcancel := context.WithTimeout(ctx, 350*time.Millisecond)
			defer lcancel()
			ls, err := c.ListUsers(lctx, &userpb.ListUsersRequest{})
			if err != nil {
				errs <- err
				return
			}
			for {
				if _, err := ls.Recv(); err != nil {
					if err != io.EOF && status.Code(err) != codes.DeadlineExceeded {
						errs <- err
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
