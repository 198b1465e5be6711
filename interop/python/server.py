"""The documentation's Python UserService server, made correct.

It serves what the docs' server implements (GetUser, CreateUser, ListUsers, CreateUsers, Chat) from
an in-memory dict; UpdateUser and DeleteUser are not implemented in the docs, so the generated base
class answers them with UNIMPLEMENTED. See README.md for how and why it departs from the docs.

    .venv/bin/python server.py [--port 50051] [--tls-cert server.crt --tls-key server.key]

Once listening it prints one JSON line, {"listening":<port>}, to stdout; logs go to stderr.
SIGTERM or SIGINT stops it gracefully (in-flight calls get --grace seconds) with exit status 0.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import uuid
from concurrent import futures

import grpc

# The generated stubs live in gen/ as top-level modules, so the docs' imports work unchanged.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
import user_pb2  # noqa: E402
import user_pb2_grpc  # noqa: E402

# The metadata keys the official gRPC interop servers echo (custom_metadata test case).
ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"


class UserServiceServicer(user_pb2_grpc.UserServiceServicer):
    def __init__(self):
        # grpcio runs handlers on a thread pool: every access to the dict holds the lock. Stored
        # User messages are never mutated after insertion, so they can be returned without copying.
        self._lock = threading.Lock()
        self.users = {}

    def _add(self, username, email):
        user = user_pb2.User(
            id=str(uuid.uuid4()),
            username=username,
            email=email,
            created_at=int(time.time()),
        )
        with self._lock:
            self.users[user.id] = user
        return user

    def GetUser(self, request, context):
        """Unary RPC: Get single user."""
        user_id = request.id
        if not user_id:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "User ID is required")
        with self._lock:
            user = self.users.get(user_id)
        if user is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"User {user_id} not found")
        return user

    def CreateUser(self, request, context):
        """Unary RPC: Create user."""
        return self._add(request.username, request.email)

    def ListUsers(self, request, context):
        """Server streaming: Stream all users."""
        # Iterate over a snapshot: a CreateUser on another thread must not change the dict mid-loop.
        with self._lock:
            users = list(self.users.values())
        for user in users:
            if not context.is_active():
                return  # the client cancelled or its deadline passed: stop sending and sleeping
            yield user
            time.sleep(0.1)  # Simulate delay

    def CreateUsers(self, request_iterator, context):
        """Client streaming: Receive stream of users."""
        created_users = [self._add(r.username, r.email) for r in request_iterator]
        return user_pb2.CreateUsersResponse(users=created_users, count=len(created_users))

    def Chat(self, request_iterator, context):
        """Bidirectional streaming: Chat."""
        for message in request_iterator:
            # Echo message back (in real app, broadcast to others)
            yield user_pb2.ChatMessage(
                user_id=message.user_id,
                text=f"Echo: {message.text}",
                timestamp=int(time.time()),
            )


class EchoMetadataInterceptor(grpc.ServerInterceptor):
    """Echoes the interop test metadata like the official gRPC interop servers do.

    A request carrying x-grpc-test-echo-initial gets it back in the response's initial metadata, one
    carrying x-grpc-test-echo-trailing-bin gets it back in the trailing metadata, on every method
    (unary and streaming, and also when the call ends with an error).
    """

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata or ()
        initial = tuple((k, v) for k, v in metadata if k == ECHO_INITIAL_KEY)
        trailing = tuple((k, v) for k, v in metadata if k == ECHO_TRAILING_KEY)
        if handler is None or not (initial or trailing):
            return handler

        def echo(context):
            if initial:
                context.send_initial_metadata(initial)
            if trailing:
                context.set_trailing_metadata(trailing)

        return _wrap_handler(handler, echo)


def _wrap_handler(handler, before):
    """Returns a copy of handler whose behaviour first calls before(context)."""
    if handler.request_streaming and handler.response_streaming:
        behavior, make = handler.stream_stream, grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        behavior, make = handler.stream_unary, grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        behavior, make = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        behavior, make = handler.unary_unary, grpc.unary_unary_rpc_method_handler

    if handler.response_streaming:

        def wrapped(request, context):
            before(context)
            yield from behavior(request, context)

    else:

        def wrapped(request, context):
            before(context)
            return behavior(request, context)

    return make(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="The docs' Python UserService server.")
    parser.add_argument("--port", type=int, default=50051, help="port to listen on; 0 picks a free one")
    parser.add_argument("--tls-cert", help="PEM certificate chain; serve TLS (needs --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument(
        "--grace", type=float, default=3.0, help="seconds in-flight calls get on SIGTERM/SIGINT"
    )
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    return args


def serve(args):
    stop = threading.Event()  # the first SIGTERM/SIGINT: stop gracefully
    force = threading.Event()  # another one during the grace period: stop now

    def on_signal(*_):
        (force if stop.is_set() else stop).set()

    # Installed before the server starts, so a signal arriving early is not lost.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=10),
        interceptors=[EchoMetadataInterceptor()],
        # grpcio sets SO_REUSEPORT by default, so a second server on a taken port would start and
        # silently share it; without it, binding a port in use fails.
        options=[("grpc.so_reuseport", 0)],
    )
    user_pb2_grpc.add_UserServiceServicer_to_server(UserServiceServicer(), server)

    address = f"[::]:{args.port}"
    try:
        if args.tls_cert:
            with open(args.tls_key, "rb") as f:
                key = f.read()
            with open(args.tls_cert, "rb") as f:
                chain = f.read()
            port = server.add_secure_port(address, grpc.ssl_server_credentials([(key, chain)]))
        else:
            port = server.add_insecure_port(address)
    except (OSError, RuntimeError) as e:  # unreadable TLS files; grpcio raises RuntimeError on bind
        print(f"server: cannot listen on {address}: {e}", file=sys.stderr)
        return 1

    server.start()
    print(json.dumps({"listening": port}, separators=(",", ":")), flush=True)
    print(f"Server started on port {port} ({'TLS' if args.tls_cert else 'plaintext'})", file=sys.stderr)

    while not stop.wait(1):
        pass
    print(f"server: stopping (grace {args.grace:g} s)", file=sys.stderr)
    stopped = server.stop(args.grace)
    while not stopped.wait(0.1):
        if force.is_set():
            server.stop(0).wait()  # a shorter grace than before wins: abort the calls left now
            break
    # Python resets its signal handlers to the default (terminate) while it shuts down; a repeated
    # signal arriving then would turn a clean exit into death by signal. Ignored handlers are kept.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    sys.exit(serve(parse_args()))
