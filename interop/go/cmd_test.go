package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polyrpc/polyrpc/interop/go/client"
	userpb "github.com/polyrpc/polyrpc/interop/go/gen/user"
)

// buildCommands builds cmd/server and cmd/client into a scratch directory.
func buildCommands(t *testing.T) (serverBin, clientBin string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	dir := t.TempDir()
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), "./cmd/server", "./cmd/client")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "server"), filepath.Join(dir, "client")
}

type serverProcess struct {
	cmd     *exec.Cmd
	port    int
	stderr  *syncBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // cmd.Wait's result, once done is closed
}

// waitExit waits up to timeout for the process to exit and returns cmd.Wait's result.
func (p *serverProcess) waitExit(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		t.Fatalf("server still running after %v\n%s", timeout, p.stderr)
		return nil
	}
}

// startServerProcess runs the server binary and waits for its {"listening":<port>} line.
func startServerProcess(t *testing.T, bin string, args ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
				t.Errorf("server printed a second stdout line: %q", sc.Text())
			}
		}
	}()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})

	select {
	case line := <-lines:
		if !regexp.MustCompile(`^\{"listening":[1-9][0-9]*\}$`).MatchString(line) {
			t.Fatalf("first stdout line %q is not {\"listening\":<port>}", line)
		}
		var msg struct{ Listening int }
		if err := json.Unmarshal([]byte(line), &msg); err != nil {
			t.Fatal(err)
		}
		p.port = msg.Listening
	case <-p.done:
		t.Fatalf("server exited before listening: %v\n%s", p.waitErr, p.stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("server printed nothing in 10 s\n%s", p.stderr)
	}
	return p
}

func runClient(t *testing.T, bin string, args ...string) (stdout string, exitCode int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		exitCode = exitErr.ExitCode()
	default:
		t.Fatalf("running the client: %v", err)
	}
	if exitCode != 0 {
		t.Logf("client %v exited %d; stderr:\n%s", args, exitCode, errOut.String())
	}
	return out.String(), exitCode
}

func TestCommands(t *testing.T) {
	serverBin, clientBin := buildCommands(t)

	t.Run("plaintext", func(t *testing.T) {
		srv := startServerProcess(t, serverBin, "--port", "0")
		target := fmt.Sprintf("localhost:%d", srv.port)

		out, code := runClient(t, clientBin, "--target", target)
		if code != 0 {
			t.Fatalf("demo client exited %d", code)
		}
		want := "GetUser failed: NOT_FOUND: User not found\nStream ended\nCreated 5 users\n" +
			"Received: Echo: Message 0\nReceived: Echo: Message 1\nReceived: Echo: Message 2\n" +
			"Received: Echo: Message 3\nReceived: Echo: Message 4\n"
		if out != want {
			t.Errorf("demo client printed:\n%s\nwant:\n%s", out, want)
		}

		out, code = runClient(t, clientBin, "--matrix", "--prefix", "cmd", "--target", target)
		if code != 0 {
			t.Fatalf("matrix client exited %d", code)
		}
		if strings.Count(out, "\n") != 1 {
			t.Errorf("matrix output is not one line:\n%s", out)
		}
		// The demo created user0..user4 before the matrix ran.
		expectMatrix(t, []byte(out), "cmd", 6)

		// SIGTERM stops the server gracefully, with exit status 0.
		if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := srv.waitExit(t, 5*time.Second); err != nil {
			t.Errorf("server exited with %v after SIGTERM\n%s", err, srv.stderr)
		}
	})

	t.Run("tls", func(t *testing.T) {
		pki := newTestPKI(t)
		srv := startServerProcess(t, serverBin, "--port", "0", "--tls-cert", pki.CertFile, "--tls-key", pki.KeyFile)
		out, code := runClient(t, clientBin, "--matrix", "--prefix", "cmdtls",
			"--target", fmt.Sprintf("127.0.0.1:%d", srv.port), "--tls", "--ca", pki.CAFile, "--server-name", "localhost")
		if code != 0 {
			t.Fatalf("matrix client exited %d", code)
		}
		expectMatrix(t, []byte(out), "cmdtls", 1)

		// SIGINT too stops it gracefully: a call in flight goes on working until --drain-timeout,
		// then it is cut and the server exits 0.
		srv = startServerProcess(t, serverBin, "--port", "0", "--tls-cert", pki.CertFile, "--tls-key", pki.KeyFile,
			"--drain-timeout", "1s")
		conn := dial(t, fmt.Sprintf("localhost:%d", srv.port), client.TLSOptions{Enabled: true, CAFile: pki.CAFile})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		chat, err := userpb.NewUserServiceClient(conn).Chat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		echo := func(text string) error {
			if err := chat.Send(&userpb.ChatMessage{Text: text}); err != nil {
				return err
			}
			msg, err := chat.Recv()
			if err == nil && msg.GetText() != "Echo: "+text {
				err = fmt.Errorf("echo %q, want %q", msg.GetText(), "Echo: "+text)
			}
			return err
		}
		if err := echo("before"); err != nil {
			t.Fatal(err)
		}
		if err := srv.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if err := echo("draining"); err != nil {
			t.Errorf("Chat during the drain: %v", err)
		}
		start := time.Now()
		if _, err := chat.Recv(); status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
			t.Errorf("Chat after the drain timeout: %v, want UNAVAILABLE or CANCELLED", err)
		}
		if waited := time.Since(start); waited > 3*time.Second {
			t.Errorf("the drain took %v, want about 1s", waited)
		}
		if err := srv.waitExit(t, 5*time.Second); err != nil {
			t.Errorf("server exited with %v after SIGINT\n%s", err, srv.stderr)
		}
	})

	t.Run("bad flags and no server", func(t *testing.T) {
		cmd := exec.Command(serverBin, "--port", "0", "--tls-cert", "x.pem")
		if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 2 {
			t.Errorf("server with --tls-cert alone: %v, want exit status 2", err)
		}
		if _, code := runClient(t, clientBin, "--matrix"); code != 2 {
			t.Errorf("client --matrix without --prefix exited %d, want 2", code)
		}
		if _, code := runClient(t, clientBin, "--ca", "ca.pem"); code != 2 {
			t.Errorf("client --ca without --tls exited %d, want 2", code)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := lis.Addr().String()
		lis.Close()
		out, code := runClient(t, clientBin, "--matrix", "--prefix", "x", "--target", closed)
		if code != 1 || out != "" {
			t.Errorf("client --matrix against a closed port exited %d and printed %q, want 1 and nothing", code, out)
		}
	})
}

// syncBuffer is a bytes.Buffer that the process's stderr copier and the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
