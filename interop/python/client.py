"""The documentation's Python UserService client, made correct, plus the interop matrix checks.

Docs mode (the docs' flow: GetUser('123'), ListUsers, CreateUsers, Chat; RPC errors are printed):

    .venv/bin/python client.py [--target localhost:50051]

Matrix mode (one JSON object on stdout, {"client":"python","observations":[...]}):

    .venv/bin/python client.py --matrix --prefix P [--target HOST:PORT]
        [--tls [--ca ca.crt] [--server-name localhost]]

A failed check is an observation, not a failure of this program: the exit status is 0 unless the
flags are bad (2).
"""

import argparse
import json
import os
import sys
import threading
import time

import grpc

# The generated stubs live in gen/ as top-level modules, so the docs' imports work unchanged.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
import user_pb2  # noqa: E402
import user_pb2_grpc  # noqa: E402

TIMEOUT = 5.0  # seconds, per matrix call unless a check says otherwise
DOCS_TIMEOUT = 30.0  # seconds, per docs-mode call: generous, but nothing can hang forever
DEADLINE_CHECK_TIMEOUT = 0.3



# The id the get_unknown check asks for; no server has it.
UNKNOWN_ID = "no-such-user"

def run(stub):
    """The docs' client flow; each call prints its RPC error instead of crashing."""

    def attempt(call):
        try:
            call()
        except grpc.RpcError as e:
            print(f"Error: {e.code()}, {e.details()}")

    # Unary call (on a fresh server, id '123' does not exist: NOT_FOUND is printed)
    def get_user():
        response = stub.GetUser(user_pb2.GetUserRequest(id="123"), timeout=DOCS_TIMEOUT)
        print(f"User: {response.username}")

    attempt(get_user)

    # Server streaming
    def list_users():
        for user in stub.ListUsers(user_pb2.ListUsersRequest(), timeout=DOCS_TIMEOUT):
            print(f"User: {user.username}")

    attempt(list_users)

    # Client streaming
    def generate_users():
        for i in range(5):
            yield user_pb2.CreateUserRequest(
                username=f"user{i}", email=f"user{i}@example.com", password="password"
            )

    def create_users():
        response = stub.CreateUsers(generate_users(), timeout=DOCS_TIMEOUT)
        print(f"Created {response.count} users")

    attempt(create_users)

    # Bidirectional streaming
    def generate_messages():
        for i in range(5):
            yield user_pb2.ChatMessage(user_id="user1", text=f"Message {i}", timestamp=int(time.time()))

    def chat():
        for response in stub.Chat(generate_messages(), timeout=DOCS_TIMEOUT):
            print(f"Received: {response.text}")

    attempt(chat)


def _blocking_requests(first, release):
    """Yields the messages in first, then blocks without ending the stream until release is set.

    grpcio consumes a request iterator on a thread of its own; ending the generator through release
    lets that thread finish once the check is over instead of leaking it.
    """
    yield from first
    release.wait()


def matrix(stub, prefix):
    """Runs the interop checks in order and returns their observations."""
    created = {"id": ""}

    def create():
        u = stub.CreateUser(
            user_pb2.CreateUserRequest(
                username=f"{prefix}-a", email=f"{prefix}-a@example.com", password="password"
            ),
            timeout=TIMEOUT,
        )
        created["id"] = u.id
        return {"id": u.id, "username": u.username, "email": u.email}

    def get():
        u = stub.GetUser(user_pb2.GetUserRequest(id=created["id"]), timeout=TIMEOUT)
        return {"id": u.id, "username": u.username}

    def update():
        u = stub.UpdateUser(
            user_pb2.UpdateUserRequest(id=created["id"], email=f"{prefix}-a2@example.com"),
            timeout=TIMEOUT,
        )
        return {"email": u.email}

    def list_users():
        users = list(stub.ListUsers(user_pb2.ListUsersRequest(page_size=0), timeout=TIMEOUT))
        return {
            "count": len(users),
            "containsCreated": any(u.username == f"{prefix}-a" for u in users),
        }

    def create_many():
        requests = (
            user_pb2.CreateUserRequest(
                username=f"{prefix}-b{i}", email=f"{prefix}-b{i}@example.com", password="password"
            )
            for i in range(3)
        )
        return {"count": stub.CreateUsers(requests, timeout=TIMEOUT).count}

    def chat():
        requests = (user_pb2.ChatMessage(user_id=f"u-{prefix}", text=f"m{i}") for i in range(3))
        replies = list(stub.Chat(requests, timeout=TIMEOUT))
        return {"texts": [m.text for m in replies], "userIds": [m.user_id for m in replies]}

    def metadata():
        trailing_value = bytes([0, 255, 16]) + prefix.encode()
        _, call = stub.CreateUser.with_call(
            user_pb2.CreateUserRequest(
                username=f"{prefix}-m", email=f"{prefix}-m@example.com", password="password"
            ),
            metadata=(
                ("x-grpc-test-echo-initial", f"ascii-{prefix}"),
                ("x-grpc-test-echo-trailing-bin", trailing_value),
            ),
            timeout=TIMEOUT,
        )
        initial = dict(call.initial_metadata() or ())
        trailing = dict(call.trailing_metadata() or ())
        echoed = trailing.get("x-grpc-test-echo-trailing-bin")
        return {
            "initial": initial.get("x-grpc-test-echo-initial"),
            "trailingBinHex": echoed.hex() if echoed is not None else None,
        }

    def delete():
        r = stub.DeleteUser(user_pb2.DeleteUserRequest(id=created["id"]), timeout=TIMEOUT)
        return {"success": r.success}

    def get_id(user_id):
        return {"id": stub.GetUser(user_pb2.GetUserRequest(id=user_id), timeout=TIMEOUT).id}

    def deadline():
        release = threading.Event()
        try:
            call = stub.Chat(_blocking_requests((), release), timeout=DEADLINE_CHECK_TIMEOUT)
            for _ in call:
                pass
        finally:
            release.set()
        return None

    def cancel():
        release = threading.Event()
        try:
            first = [user_pb2.ChatMessage(user_id=f"u-{prefix}", text="c0")]
            call = stub.Chat(_blocking_requests(first, release), timeout=TIMEOUT)
            echoed = next(call).text
            call.cancel()
            try:
                for _ in call:
                    pass
            except grpc.RpcError as e:
                raise _ErrorWithValue(e, {"echoed": echoed}) from e
            return {"echoed": echoed}
        finally:
            release.set()

    checks = [
        ("create", create),
        ("get", get),
        ("update", update),
        ("list", list_users),
        ("create_many", create_many),
        ("chat", chat),
        ("metadata", metadata),
        ("delete", delete),
        ("get_deleted", lambda: get_id(created["id"])),
        ("get_empty_id", lambda: get_id("")),
        ("get_unknown", lambda: get_id(UNKNOWN_ID)),
        ("deadline", deadline),
        ("cancel", cancel),
    ]
    return [_observe(name, fn) for name, fn in checks]


class _ErrorWithValue(Exception):
    """An RPC error that still has a value to report (cancel: the echo read before cancelling)."""

    def __init__(self, error, value):
        super().__init__(error)
        self.error = error
        self.value = value


def _observation(check, code, message, value):
    return {"check": check, "code": code, "message": message, "value": value}


def _observe(name, fn):
    """Runs one check: its value on OK, or the code and details of the RPC error it raised."""
    try:
        return _observation(name, "OK", "", fn())
    except _ErrorWithValue as e:
        return _observation(name, e.error.code().name, e.error.details() or "", e.value)
    except grpc.RpcError as e:
        return _observation(name, e.code().name, e.details() or "", None)
    except Exception as e:  # a client-side bug must still leave an observation, not a crash
        return _observation(name, "UNKNOWN", f"client exception: {e!r}", None)


def make_channel(args):
    if not args.tls:
        return grpc.insecure_channel(args.target)
    root = None
    if args.ca:
        with open(args.ca, "rb") as f:
            root = f.read()
    options = []
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    return grpc.secure_channel(
        args.target, grpc.ssl_channel_credentials(root_certificates=root), options=options
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="The docs' Python UserService client.")
    parser.add_argument("--target", default="localhost:50051", help="server address host:port")
    parser.add_argument("--matrix", action="store_true", help="run the interop checks, print JSON")
    parser.add_argument("--prefix", help="name prefix for the users the checks create (--matrix)")
    parser.add_argument("--tls", action="store_true", help="connect over TLS")
    parser.add_argument("--ca", help="PEM CA certificate(s) to trust (--tls); default: system roots")
    parser.add_argument("--server-name", help="name to verify the server certificate against (--tls)")
    args = parser.parse_args(argv)
    if args.matrix and not args.prefix:
        parser.error("--matrix needs --prefix")
    if args.prefix is not None and not args.matrix:
        parser.error("--prefix is only for --matrix")
    if (args.ca or args.server_name) and not args.tls:
        parser.error("--ca and --server-name need --tls")
    return args


def main(argv=None):
    args = parse_args(argv)
    with make_channel(args) as channel:
        stub = user_pb2_grpc.UserServiceStub(channel)
        if args.matrix:
            observations = matrix(stub, args.prefix)
            print(json.dumps({"client": "python", "observations": observations}), flush=True)
        else:
            run(stub)
    return 0


if __name__ == "__main__":
    sys.exit(main())
