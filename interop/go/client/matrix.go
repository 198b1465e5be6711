package client

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	userpb "github.com/polyrpc/polyrpc/interop/go/gen/user"
)

// CallTimeout is the deadline of every matrix call unless a check says otherwise.
const CallTimeout = 5 * time.Second

// Observation is what one check saw: the call's status and a check-specific value (nil, JSON
// null, when the call failed).
type Observation struct {
	Check   string `json:"check"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Value   any    `json:"value"`
}

// Report is the matrix output: {"client":"go","observations":[...]}.
type Report struct {
	Client       string        `json:"client"`
	Observations []Observation `json:"observations"`
}

// The check-specific values, in the key order the check list gives.
type (
	CreateValue struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Email    string `json:"email"`
	}
	GetValue struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	}
	UpdateValue struct {
		Email string `json:"email"`
	}
	ListValue struct {
		Count           int  `json:"count"`
		ContainsCreated bool `json:"containsCreated"`
	}
	CountValue struct {
		Count int32 `json:"count"`
	}
	ChatValue struct {
		Texts   []string `json:"texts"`
		UserIDs []string `json:"userIds"`
	}
	MetadataValue struct {
		Initial        *string `json:"initial"`
		TrailingBinHex *string `json:"trailingBinHex"`
	}
	DeleteValue struct {
		Success bool `json:"success"`
	}
	IDValue struct {
		ID string `json:"id"`
	}
	CancelValue struct {
		Echoed string `json:"echoed"`
	}
)

// Metadata keys of the interop echo.
const (
	echoInitialKey     = "x-grpc-test-echo-initial"
	echoTrailingBinKey = "x-grpc-test-echo-trailing-bin"
)

// TrailingBinValue is the binary metadata value the metadata check sends: 0x00 0xff 0x10, then P.
func TrailingBinValue(prefix string) []byte {
	return append([]byte{0x00, 0xff, 0x10}, prefix...)
}

// Matrix runs the interop check list against conn, in order, with names made unique by prefix.
// A failed check is recorded, never fatal: every check runs and yields one observation.
func Matrix(ctx context.Context, conn grpc.ClientConnInterface, prefix string) Report {
	c := userpb.NewUserServiceClient(conn)
	m := &matrix{ctx: ctx, c: c, p: prefix}
	return Report{Client: "go", Observations: []Observation{
		m.create(),
		m.get(),
		m.update(),
		m.list(),
		m.createMany(),
		m.chat(),
		m.metadata(),
		m.delete(),
		m.getDeleted(),
		m.getEmptyID(),
		m.getUnknown(),
		m.deadline(),
		m.cancel(),
	}}
}

type matrix struct {
	ctx       context.Context
	c         userpb.UserServiceClient
	p         string
	createdID string
}

// observe turns a call's outcome into an observation; value is kept only when err is nil.
func observe(check string, err error, value any) Observation {
	if err != nil {
		st := status.Convert(err)
		return Observation{Check: check, Code: CodeName(st.Code()), Message: st.Message(), Value: nil}
	}
	return Observation{Check: check, Code: "OK", Message: "", Value: value}
}

func (m *matrix) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.ctx, CallTimeout)
}

func (m *matrix) create() Observation {
	ctx, cancel := m.call()
	defer cancel()
	u, err := m.c.CreateUser(ctx, &userpb.CreateUserRequest{
		Username: m.p + "-a",
		Email:    m.p + "-a@example.com",
		Password: "password",
	})
	if err != nil {
		return observe("create", err, nil)
	}
	m.createdID = u.GetId()
	return observe("create", nil, CreateValue{ID: u.GetId(), Username: u.GetUsername(), Email: u.GetEmail()})
}

func (m *matrix) get() Observation {
	ctx, cancel := m.call()
	defer cancel()
	u, err := m.c.GetUser(ctx, &userpb.GetUserRequest{Id: m.createdID})
	if err != nil {
		return observe("get", err, nil)
	}
	return observe("get", nil, GetValue{ID: u.GetId(), Username: u.GetUsername()})
}

func (m *matrix) update() Observation {
	ctx, cancel := m.call()
	defer cancel()
	u, err := m.c.UpdateUser(ctx, &userpb.UpdateUserRequest{
		Id:    m.createdID,
		Email: proto.String(m.p + "-a2@example.com"),
	})
	if err != nil {
		return observe("update", err, nil)
	}
	return observe("update", nil, UpdateValue{Email: u.GetEmail()})
}

func (m *matrix) list() Observation {
	ctx, cancel := m.call()
	defer cancel()
	stream, err := m.c.ListUsers(ctx, &userpb.ListUsersRequest{PageSize: 0})
	if err != nil {
		return observe("list", err, nil)
	}
	v := ListValue{}
	for {
		u, err := stream.Recv()
		if err == io.EOF {
			return observe("list", nil, v)
		}
		if err != nil {
			return observe("list", err, nil)
		}
		v.Count++
		if u.GetUsername() == m.p+"-a" {
			v.ContainsCreated = true
		}
	}
}

func (m *matrix) createMany() Observation {
	ctx, cancel := m.call()
	defer cancel()
	stream, err := m.c.CreateUsers(ctx)
	if err != nil {
		return observe("create_many", err, nil)
	}
	for i := range 3 {
		name := m.p + "-b" + strconv.Itoa(i)
		err := stream.Send(&userpb.CreateUserRequest{Username: name, Email: name + "@example.com", Password: "password"})
		if err == io.EOF {
			break // the server ended the call; CloseAndRecv below returns its status
		}
		if err != nil {
			return observe("create_many", err, nil)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return observe("create_many", err, nil)
	}
	return observe("create_many", nil, CountValue{Count: resp.GetCount()})
}

func (m *matrix) chat() Observation {
	ctx, cancel := m.call()
	defer cancel()
	stream, err := m.c.Chat(ctx)
	if err != nil {
		return observe("chat", err, nil)
	}
	// Send from a goroutine while reading, so that neither side can block the other.
	sendErr := make(chan error, 1)
	go func() {
		for i := range 3 {
			err := stream.Send(&userpb.ChatMessage{UserId: "u-" + m.p, Text: "m" + strconv.Itoa(i)})
			if err != nil {
				if err == io.EOF {
					err = nil // the server ended the call; Recv returns its status
				}
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	v := ChatValue{Texts: []string{}, UserIDs: []string{}}
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return observe("chat", err, nil)
		}
		v.Texts = append(v.Texts, msg.GetText())
		v.UserIDs = append(v.UserIDs, msg.GetUserId())
	}
	if err := <-sendErr; err != nil {
		return observe("chat", err, nil)
	}
	return observe("chat", nil, v)
}

func (m *matrix) metadata() Observation {
	ctx, cancel := m.call()
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx,
		echoInitialKey, "ascii-"+m.p,
		echoTrailingBinKey, string(TrailingBinValue(m.p)),
	)
	var header, trailer metadata.MD
	_, err := m.c.CreateUser(ctx, &userpb.CreateUserRequest{
		Username: m.p + "-m",
		Email:    m.p + "-m@example.com",
		Password: "password",
	}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		return observe("metadata", err, nil)
	}
	v := MetadataValue{}
	if vals := header.Get(echoInitialKey); len(vals) > 0 {
		v.Initial = &vals[0]
	}
	if vals := trailer.Get(echoTrailingBinKey); len(vals) > 0 {
		h := hex.EncodeToString([]byte(vals[0]))
		v.TrailingBinHex = &h
	}
	return observe("metadata", nil, v)
}

func (m *matrix) delete() Observation {
	ctx, cancel := m.call()
	defer cancel()
	resp, err := m.c.DeleteUser(ctx, &userpb.DeleteUserRequest{Id: m.createdID})
	if err != nil {
		return observe("delete", err, nil)
	}
	return observe("delete", nil, DeleteValue{Success: resp.GetSuccess()})
}

func (m *matrix) getID(check, id string) Observation {
	ctx, cancel := m.call()
	defer cancel()
	u, err := m.c.GetUser(ctx, &userpb.GetUserRequest{Id: id})
	if err != nil {
		return observe(check, err, nil)
	}
	return observe(check, nil, IDValue{ID: u.GetId()})
}

func (m *matrix) getDeleted() Observation { return m.getID("get_deleted", m.createdID) }

func (m *matrix) getEmptyID() Observation { return m.getID("get_empty_id", "") }

// UnknownID is the id the get_unknown check asks for; no server has it.
const UnknownID = "no-such-user"

func (m *matrix) getUnknown() Observation { return m.getID("get_unknown", UnknownID) }

// deadline opens Chat with a 300 ms deadline, sends nothing, does not half-close, and reads: the
// read ends with the deadline.
func (m *matrix) deadline() Observation {
	ctx, cancel := context.WithTimeout(m.ctx, 300*time.Millisecond)
	defer cancel()
	stream, err := m.c.Chat(ctx)
	if err != nil {
		return observe("deadline", err, nil)
	}
	_, err = stream.Recv()
	if err == io.EOF {
		err = nil
	}
	return observe("deadline", err, nil)
}

// cancel opens Chat, sends one message, reads its echo, cancels the call and reads again.
func (m *matrix) cancel() Observation {
	ctx, cancel := m.call()
	defer cancel()
	stream, err := m.c.Chat(ctx)
	if err != nil {
		return observe("cancel", err, nil)
	}
	if err := stream.Send(&userpb.ChatMessage{UserId: "u-" + m.p, Text: "c0"}); err != nil && err != io.EOF {
		return observe("cancel", err, nil)
	}
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return observe("cancel", nil, nil) // the call ended OK before echoing anything
	}
	if err != nil {
		return observe("cancel", err, nil)
	}
	cancel()
	_, err = stream.Recv()
	if err == io.EOF {
		err = nil
	}
	if err != nil {
		st := status.Convert(err)
		return Observation{Check: "cancel", Code: CodeName(st.Code()), Message: st.Message(),
			Value: CancelValue{Echoed: first.GetText()}}
	}
	return observe("cancel", nil, CancelValue{Echoed: first.GetText()})
}
