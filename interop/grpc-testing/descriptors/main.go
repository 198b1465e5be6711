// Command descriptors writes the descriptors of the official gRPC interop test protos
// (grpc/testing/test.proto, messages.proto and empty.proto) as a FileDescriptorSet. The .proto
// files are not published anywhere this repository can fetch them from, but grpc-go compiles them
// into google.golang.org/grpc/interop/grpc_testing, so their descriptors come from there, at the
// grpc-go version pinned in go.mod.
//
//	go run . <out.binpb>
package main

import (
	"fmt"
	"os"

	"google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: descriptors <out.binpb>")
		os.Exit(2)
	}
	roots := []protoreflect.FileDescriptor{
		grpc_testing.File_grpc_testing_empty_proto,
		grpc_testing.File_grpc_testing_messages_proto,
		grpc_testing.File_grpc_testing_test_proto,
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	// Dependencies first, as protoc writes a set with --include_imports.
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range roots {
		add(fd)
	}
	// Deterministic, so that regenerating yields the same bytes.
	bytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		fmt.Fprintln(os.Stderr, "marshal:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], bytes, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
