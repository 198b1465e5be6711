package client

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	userpb "github.com/polyrpc/polyrpc/interop/go/gen/user"
)

// DemoTimeout bounds each call of the demo flow (the documentation's clients set none; a client
// without deadlines waits forever on a stuck server).
const DemoTimeout = 30 * time.Second

// Demo runs the documentation's client flow against conn and writes what happened to w: GetUser
// '123', ListUsers, CreateUsers with 5 users, Chat with 5 messages. A failed call is printed and
// the flow goes on; it returns the number of calls that failed.
func Demo(ctx context.Context, conn grpc.ClientConnInterface, w io.Writer) int {
	c := userpb.NewUserServiceClient(conn)
	failed := 0
	report := func(what string, err error) {
		failed++
		st := status.Convert(err)
		fmt.Fprintf(w, "%s failed: %s: %s\n", what, CodeName(st.Code()), st.Message())
	}

	// Unary call
	func() {
		ctx, cancel := context.WithTimeout(ctx, DemoTimeout)
		defer cancel()
		user, err := c.GetUser(ctx, &userpb.GetUserRequest{Id: "123"})
		if err != nil {
			report("GetUser", err)
			return
		}
		fmt.Fprintf(w, "User: %s\n", user.GetUsername())
	}()

	// Server streaming
	func() {
		ctx, cancel := context.WithTimeout(ctx, DemoTimeout)
		defer cancel()
		stream, err := c.ListUsers(ctx, &userpb.ListUsersRequest{})
		if err != nil {
			report("ListUsers", err)
			return
		}
		for {
			user, err := stream.Recv()
			if err == io.EOF {
				fmt.Fprintln(w, "Stream ended")
				return
			}
			if err != nil {
				report("ListUsers", err)
				return
			}
			fmt.Fprintf(w, "User: %s\n", user.GetUsername())
		}
	}()

	// Client streaming
	func() {
		ctx, cancel := context.WithTimeout(ctx, DemoTimeout)
		defer cancel()
		stream, err := c.CreateUsers(ctx)
		if err != nil {
			report("CreateUsers", err)
			return
		}
		for i := range 5 {
			n := strconv.Itoa(i)
			err := stream.Send(&userpb.CreateUserRequest{
				Username: "user" + n,
				Email:    "user" + n + "@example.com",
				Password: "password",
			})
			if err == io.EOF {
				break // the server ended the call: CloseAndRecv returns its status
			}
			if err != nil {
				report("CreateUsers", err)
				return
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			report("CreateUsers", err)
			return
		}
		fmt.Fprintf(w, "Created %d users\n", resp.GetCount())
	}()

	// Bidirectional streaming: send and receive at the same time.
	func() {
		ctx, cancel := context.WithTimeout(ctx, DemoTimeout)
		defer cancel()
		stream, err := c.Chat(ctx)
		if err != nil {
			report("Chat", err)
			return
		}
		sendErr := make(chan error, 1)
		go func() {
			for i := range 5 {
				err := stream.Send(&userpb.ChatMessage{
					UserId:    "user1",
					Text:      "Message " + strconv.Itoa(i),
					Timestamp: time.Now().Unix(),
				})
				if err != nil {
					if err == io.EOF {
						err = nil // the server ended the call: Recv returns its status
					}
					sendErr <- err
					return
				}
			}
			sendErr <- stream.CloseSend()
		}()
		for {
			msg, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				report("Chat", err)
				return
			}
			fmt.Fprintf(w, "Received: %s\n", msg.GetText())
		}
		if err := <-sendErr; err != nil {
			report("Chat", err)
		}
	}()
	return failed
}
