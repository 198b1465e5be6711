// Package server is the documentation's Go UserService server, made correct: the user map is
// guarded by a sync.RWMutex, errors are gRPC statuses from google.golang.org/grpc/status, and the
// streaming handlers stop when their call's context ends.
//
// It implements exactly the methods the documentation's Go server implements: GetUser, CreateUser,
// ListUsers, CreateUsers and Chat. UpdateUser and DeleteUser answer UNIMPLEMENTED through the
// embedded UnimplementedUserServiceServer, as in the documentation.
package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	userpb "github.com/polyrpc/polyrpc/interop/go/gen/user"
)

// ListDelay is the pause after each user ListUsers sends (the documentation's "Simulate delay").
const ListDelay = 100 * time.Millisecond

// Metadata keys the interceptors echo, as the official gRPC interop test servers do.
const (
	EchoInitialKey     = "x-grpc-test-echo-initial"
	EchoTrailingBinKey = "x-grpc-test-echo-trailing-bin"
)

// Service is the in-memory UserService.
type Service struct {
	userpb.UnimplementedUserServiceServer

	mu    sync.RWMutex
	users map[string]*userpb.User
	order []string // ids in creation order, so that ListUsers streams oldest first
}

// New returns an empty Service.
func New() *Service {
	return &Service{users: make(map[string]*userpb.User)}
}

// NewGRPCServer returns a grpc.Server with a new Service registered and the metadata-echo
// interceptors installed. opts are added after them (a ChainUnaryInterceptor/ChainStreamInterceptor
// in opts runs inside the echo interceptors).
func NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	all := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(EchoUnaryInterceptor),
		grpc.ChainStreamInterceptor(EchoStreamInterceptor),
	}, opts...)
	s := grpc.NewServer(all...)
	userpb.RegisterUserServiceServer(s, New())
	return s
}

// GetUser returns the user with the given id, or NOT_FOUND "User not found" (an empty id is simply
// an id no user has, as in the documentation).
func (s *Service) GetUser(_ context.Context, req *userpb.GetUserRequest) (*userpb.User, error) {
	s.mu.RLock()
	user, ok := s.users[req.GetId()]
	s.mu.RUnlock()
	if !ok {
		return nil, status.Error(codes.NotFound, "User not found")
	}
	return proto.CloneOf(user), nil
}

// CreateUser stores a user with a new id. As in the documentation nothing is validated and the
// password is not kept.
func (s *Service) CreateUser(_ context.Context, req *userpb.CreateUserRequest) (*userpb.User, error) {
	return s.add(req), nil
}

// ListUsers streams every user, oldest first, pausing ListDelay after each one as the
// documentation does; it returns as soon as the call is cancelled or its deadline passes.
func (s *Service) ListUsers(_ *userpb.ListUsersRequest, stream grpc.ServerStreamingServer[userpb.User]) error {
	ctx := stream.Context()
	s.mu.RLock()
	snapshot := make([]*userpb.User, 0, len(s.order))
	for _, id := range s.order {
		snapshot = append(snapshot, proto.CloneOf(s.users[id]))
	}
	s.mu.RUnlock()

	for _, user := range snapshot {
		if err := ctx.Err(); err != nil {
			return status.FromContextError(err).Err()
		}
		if err := stream.Send(user); err != nil {
			return err
		}
		if err := sleep(ctx, ListDelay); err != nil {
			return err
		}
	}
	return nil
}

// CreateUsers stores each user as it arrives and answers with all of them once the client
// half-closes.
func (s *Service) CreateUsers(stream grpc.ClientStreamingServer[userpb.CreateUserRequest, userpb.CreateUsersResponse]) error {
	var users []*userpb.User
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&userpb.CreateUsersResponse{
				Users: users,
				Count: int32(len(users)),
			})
		}
		if err != nil {
			return err
		}
		users = append(users, s.add(req))
	}
}

// Chat echoes every message back as "Echo: <text>" with the server's timestamp until the client
// half-closes.
func (s *Service) Chat(stream grpc.BidiStreamingServer[userpb.ChatMessage, userpb.ChatMessage]) error {
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&userpb.ChatMessage{
			UserId:    msg.GetUserId(),
			Text:      "Echo: " + msg.GetText(),
			Timestamp: time.Now().Unix(),
		}); err != nil {
			return err
		}
	}
}

// sleep waits for d, or returns the status of ctx's end if that comes first.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-timer.C:
		return nil
	}
}

func (s *Service) add(req *userpb.CreateUserRequest) *userpb.User {
	user := &userpb.User{
		Id:        newID(),
		Username:  req.GetUsername(),
		Email:     req.GetEmail(),
		CreatedAt: time.Now().Unix(),
	}
	s.mu.Lock()
	s.users[user.Id] = user
	s.order = append(s.order, user.Id)
	s.mu.Unlock()
	return proto.CloneOf(user)
}

// newID returns a random (version 4) UUID, what the documentation's uuid.New().String() returns,
// without a dependency beyond grpc and protobuf.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// echoMetadata returns the response headers and trailers the interop echo asks for: the first
// x-grpc-test-echo-initial value goes back as a header, the first x-grpc-test-echo-trailing-bin
// value as a trailer.
func echoMetadata(ctx context.Context) (header, trailer metadata.MD) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return nil, nil
	}
	if v := md.Get(EchoInitialKey); len(v) > 0 {
		header = metadata.Pairs(EchoInitialKey, v[0])
	}
	if v := md.Get(EchoTrailingBinKey); len(v) > 0 {
		trailer = metadata.Pairs(EchoTrailingBinKey, v[0])
	}
	return header, trailer
}

// EchoUnaryInterceptor echoes the interop test metadata on unary calls, whatever their outcome.
func EchoUnaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	header, trailer := echoMetadata(ctx)
	if header != nil {
		if err := grpc.SetHeader(ctx, header); err != nil {
			return nil, err
		}
	}
	if trailer != nil {
		if err := grpc.SetTrailer(ctx, trailer); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// EchoStreamInterceptor echoes the interop test metadata on streaming calls, whatever their outcome.
func EchoStreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	header, trailer := echoMetadata(ss.Context())
	if header != nil {
		if err := ss.SetHeader(header); err != nil {
			return err
		}
	}
	if trailer != nil {
		ss.SetTrailer(trailer)
	}
	return handler(srv, ss)
}
