"""End-to-end: server.py and client.py as processes, plaintext and over TLS.

Run: .venv/bin/python -m unittest discover -s interop/python -v
The TLS case makes a throwaway CA and a server certificate with the openssl command-line tool.
"""

import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import unittest
import uuid

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))
import user_pb2  # noqa: E402
import user_pb2_grpc  # noqa: E402

# The interpreter running the tests: .venv/bin/python when run as documented.
PYTHON = sys.executable
START_TIMEOUT = 15.0
CLIENT_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

CHECK_ORDER = [
    "create",
    "get",
    "update",
    "list",
    "create_many",
    "chat",
    "metadata",
    "delete",
    "get_deleted",
    "get_empty_id",
    "get_unknown",
    "deadline",
    "cancel",
]

OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = polyrpc interop test CA
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
"""


def make_test_pki(directory):
    """Writes ca.crt, server.crt and server.key (P-256, valid for a day) into directory."""
    config = os.path.join(directory, "openssl.cnf")
    with open(config, "w") as f:
        f.write(OPENSSL_CONFIG)
    names = ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt")
    paths = {name: os.path.join(directory, name) for name in names}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands = [
        ["openssl", "req", "-x509", "-config", config, "-extensions", "ca_ext", *ec,
         "-keyout", paths["ca.key"], "-out", paths["ca.crt"], "-days", "1",
         "-subj", "/CN=polyrpc interop test CA"],
        ["openssl", "req", "-new", "-config", config, *ec,
         "-keyout", paths["server.key"], "-out", paths["server.csr"], "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", paths["server.csr"], "-CA", paths["ca.crt"],
         "-CAkey", paths["ca.key"], "-set_serial", "2", "-days", "1",
         "-extfile", config, "-extensions", "server_ext", "-out", paths["server.crt"]],
    ]
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    return paths


class Server:
    """server.py as a child process; the port comes from its {"listening":<port>} line."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "server.py"), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise RuntimeError(f"server did not report its port: {err}")
        self.first_line = line
        self.port = json.loads(line)["listening"]

        # stderr is drained on a thread, so the server never blocks on a full pipe and the tests can
        # wait for a log line.
        self.log = []
        self._log_changed = threading.Condition()
        self._log_reader = threading.Thread(target=self._read_log, daemon=True)
        self._log_reader.start()

    def _read_log(self):
        for line in self.proc.stderr:
            with self._log_changed:
                self.log.append(line)
                self._log_changed.notify_all()

    def wait_for_log(self, text, timeout=START_TIMEOUT):
        """Waits for a stderr line containing text (the signal handler has run, for instance)."""
        with self._log_changed:
            if not self._log_changed.wait_for(lambda: any(text in line for line in self.log), timeout):
                raise AssertionError(f"the server did not log {text!r}: {''.join(self.log)}")

    def stop(self, sig=signal.SIGTERM):
        """Signals the server and returns (exit status, rest of stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not stop within {STOP_TIMEOUT} s: {''.join(self.log)}") from e
        finally:
            out = self.proc.stdout.read()  # the reader thread owns stderr; communicate() would race it
            self.proc.stdout.close()
            self._log_reader.join(STOP_TIMEOUT)
            self.proc.stderr.close()
        return self.proc.returncode, out, "".join(self.log)


def run_client(*args):
    return subprocess.run(
        [PYTHON, os.path.join(HERE, "client.py"), *args],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
    )


class InteropTestCase(unittest.TestCase):
    def start_server(self, *args):
        server = Server(*args)
        self.addCleanup(lambda: server.proc.poll() is None and server.stop())
        return server

    def run_matrix(self, *args):
        prefix = "py" + uuid.uuid4().hex[:8]
        result = run_client("--matrix", "--prefix", prefix, *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(result.stdout.splitlines()), 1, "one JSON object on one line")
        report = json.loads(result.stdout)
        self.assertEqual(report["client"], "python")
        return prefix, {o["check"]: o for o in report["observations"]}, report

    def assert_documented_outcomes(self, prefix, obs, report):
        """What the docs' server does, check by check (UpdateUser/DeleteUser are unimplemented)."""
        self.assertEqual([o["check"] for o in report["observations"]], CHECK_ORDER)
        for o in report["observations"]:
            self.assertEqual(set(o), {"check", "code", "message", "value"}, o)
            if o["code"] == "OK":
                self.assertEqual(o["message"], "", o)

        create = obs["create"]
        self.assertEqual(create["code"], "OK", create)
        user_id = create["value"]["id"]
        self.assertTrue(user_id)
        self.assertEqual(
            create["value"],
            {"id": user_id, "username": f"{prefix}-a", "email": f"{prefix}-a@example.com"},
        )

        self.assertEqual(obs["get"]["code"], "OK", obs["get"])
        self.assertEqual(obs["get"]["value"], {"id": user_id, "username": f"{prefix}-a"})

        for name in ("update", "delete"):
            self.assertEqual(obs[name]["code"], "UNIMPLEMENTED", obs[name])
            self.assertEqual(obs[name]["message"], "Method not implemented!")
            self.assertIsNone(obs[name]["value"])

        self.assertEqual(obs["list"]["code"], "OK", obs["list"])
        self.assertGreaterEqual(obs["list"]["value"]["count"], 1)
        self.assertIs(obs["list"]["value"]["containsCreated"], True)

        self.assertEqual(obs["create_many"]["code"], "OK", obs["create_many"])
        self.assertEqual(obs["create_many"]["value"], {"count": 3})

        self.assertEqual(obs["chat"]["code"], "OK", obs["chat"])
        self.assertEqual(
            obs["chat"]["value"],
            {"texts": ["Echo: m0", "Echo: m1", "Echo: m2"], "userIds": [f"u-{prefix}"] * 3},
        )

        self.assertEqual(obs["metadata"]["code"], "OK", obs["metadata"])
        self.assertEqual(
            obs["metadata"]["value"],
            {
                "initial": f"ascii-{prefix}",
                "trailingBinHex": (bytes([0, 255, 16]) + prefix.encode()).hex(),
            },
        )

        # DeleteUser is unimplemented, so the user is still there.
        self.assertEqual(obs["get_deleted"]["code"], "OK", obs["get_deleted"])
        self.assertEqual(obs["get_deleted"]["value"], {"id": user_id})

        self.assertEqual(obs["get_empty_id"]["code"], "INVALID_ARGUMENT", obs["get_empty_id"])
        self.assertEqual(obs["get_empty_id"]["message"], "User ID is required")
        self.assertIsNone(obs["get_empty_id"]["value"])
        self.assertEqual(obs["get_unknown"]["code"], "NOT_FOUND", obs["get_unknown"])
        self.assertEqual(obs["get_unknown"]["message"], "User no-such-user not found")

        self.assertEqual(obs["deadline"]["code"], "DEADLINE_EXCEEDED", obs["deadline"])
        self.assertIsNone(obs["deadline"]["value"])

        self.assertEqual(obs["cancel"]["code"], "CANCELLED", obs["cancel"])
        self.assertEqual(obs["cancel"]["value"], {"echoed": "Echo: c0"})


class PlaintextTest(InteropTestCase):
    def test_server_prints_exactly_the_listening_line(self):
        server = self.start_server()
        self.assertEqual(server.first_line, f'{{"listening":{server.port}}}\n')
        self.assertGreater(server.port, 0)
        code, rest, _ = server.stop()
        self.assertEqual(code, 0)
        self.assertEqual(rest, "", "nothing else on stdout")

    def test_matrix_gives_the_documented_outcomes(self):
        server = self.start_server()
        prefix, obs, report = self.run_matrix("--target", f"localhost:{server.port}")
        self.assert_documented_outcomes(prefix, obs, report)

    def test_docs_client_runs_the_docs_flow_and_exits_zero(self):
        server = self.start_server()
        result = run_client("--target", f"localhost:{server.port}")
        self.assertEqual(result.returncode, 0, result.stderr)
        # The docs' GetUser('123') on a fresh server: printed, not a crash.
        self.assertIn("Error: StatusCode.NOT_FOUND, User 123 not found", result.stdout)
        self.assertIn("Created 5 users", result.stdout)
        for i in range(5):
            self.assertIn(f"Received: Echo: Message {i}", result.stdout)
        # A second run lists the five users the first one created.
        again = run_client("--target", f"localhost:{server.port}")
        self.assertEqual(again.returncode, 0, again.stderr)
        for i in range(5):
            self.assertIn(f"User: user{i}", again.stdout)

    def test_the_two_matrix_runs_on_one_server_do_not_interfere(self):
        server = self.start_server()
        for _ in range(2):
            prefix, obs, report = self.run_matrix("--target", f"localhost:{server.port}")
            self.assert_documented_outcomes(prefix, obs, report)

    def test_an_unreachable_server_is_observed_not_fatal(self):
        server = self.start_server()
        port = server.port
        server.stop()
        prefix = "gone"
        result = run_client("--matrix", "--prefix", prefix, "--target", f"localhost:{port}")
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual([o["check"] for o in report["observations"]], CHECK_ORDER)
        self.assertEqual({o["code"] for o in report["observations"]}, {"UNAVAILABLE"})
        docs = run_client("--target", f"localhost:{port}")
        self.assertEqual(docs.returncode, 0, docs.stderr)
        self.assertIn("Error: StatusCode.UNAVAILABLE", docs.stdout)

    def test_a_port_in_use_is_refused_not_shared(self):
        server = self.start_server()
        second = subprocess.run(
            [PYTHON, os.path.join(HERE, "server.py"), "--port", str(server.port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(second.returncode, 1, second.stdout)
        self.assertEqual(second.stdout, "")
        self.assertIn("cannot listen", second.stderr)

    def test_sigint_stops_the_server_with_status_zero(self):
        server = self.start_server()
        code, _, err = server.stop(signal.SIGINT)
        self.assertEqual(code, 0, err)

    def test_sigterm_lets_an_in_flight_stream_finish_within_the_grace(self):
        server = self.start_server("--grace", "5")
        self.assertEqual(run_client("--target", f"localhost:{server.port}").returncode, 0)
        with grpc.insecure_channel(f"localhost:{server.port}") as channel:
            stub = user_pb2_grpc.UserServiceStub(channel)
            stream = stub.ListUsers(user_pb2.ListUsersRequest(), timeout=10)
            first = next(stream)  # in flight: the server sleeps 0.1 s per user
            server.proc.send_signal(signal.SIGTERM)
            rest = [u.username for u in stream]
            self.assertEqual([first.username, *rest], [f"user{i}" for i in range(5)])
            self.assertEqual(stream.code(), grpc.StatusCode.OK)
        code, _, err = server.stop()
        self.assertEqual(code, 0, err)


    def test_a_second_sigterm_during_the_grace_period_aborts_the_calls_left(self):
        server = self.start_server("--grace", "30")
        requests = queue.Queue()

        def request_stream():
            while (message := requests.get()) is not None:
                yield message

        with grpc.insecure_channel(f"localhost:{server.port}") as channel:
            stub = user_pb2_grpc.UserServiceStub(channel)
            chat = stub.Chat(request_stream(), timeout=20)
            try:
                requests.put(user_pb2.ChatMessage(user_id="u", text="before"))
                self.assertEqual(next(chat).text, "Echo: before")
                server.proc.send_signal(signal.SIGTERM)
                # Signals do not queue: wait until the first one is handled before sending another.
                server.wait_for_log("server: stopping")
                requests.put(user_pb2.ChatMessage(user_id="u", text="during grace"))
                self.assertEqual(next(chat).text, "Echo: during grace")
                server.proc.send_signal(signal.SIGTERM)
                with self.assertRaises(grpc.RpcError) as raised:
                    next(chat)
                self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE)
            finally:
                requests.put(None)
        code, _, err = server.stop()
        self.assertEqual(code, 0, err)


class BadFlagsTest(unittest.TestCase):
    def test_client_exits_non_zero_only_for_bad_flags(self):
        for args in (["--matrix"], ["--prefix", "p"], ["--ca", "x.pem"], ["--nope"]):
            with self.subTest(args=args):
                self.assertEqual(run_client(*args).returncode, 2)

    def test_server_refuses_half_a_tls_configuration(self):
        result = subprocess.run(
            [PYTHON, os.path.join(HERE, "server.py"), "--tls-cert", "x.pem"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        self.assertEqual(result.returncode, 2)


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command-line tool")
class TlsTest(InteropTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pki = make_test_pki(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def start_tls_server(self):
        return self.start_server("--tls-cert", self.pki["server.crt"], "--tls-key", self.pki["server.key"])

    def test_matrix_over_tls_gives_the_documented_outcomes(self):
        server = self.start_tls_server()
        prefix, obs, report = self.run_matrix(
            "--target", f"localhost:{server.port}",
            "--tls", "--ca", self.pki["ca.crt"], "--server-name", "localhost",
        )
        self.assert_documented_outcomes(prefix, obs, report)

    def test_matrix_over_tls_by_ip_address_uses_the_ip_san(self):
        server = self.start_tls_server()
        prefix, obs, report = self.run_matrix(
            "--target", f"127.0.0.1:{server.port}", "--tls", "--ca", self.pki["ca.crt"]
        )
        self.assert_documented_outcomes(prefix, obs, report)

    def test_a_server_name_the_certificate_does_not_cover_is_unavailable(self):
        server = self.start_tls_server()
        _, obs, _ = self.run_matrix(
            "--target", f"localhost:{server.port}",
            "--tls", "--ca", self.pki["ca.crt"], "--server-name", "elsewhere.example",
        )
        self.assertEqual({o["code"] for o in obs.values()}, {"UNAVAILABLE"})

    def test_plaintext_client_against_tls_server_is_observed_not_fatal(self):
        server = self.start_tls_server()
        _, obs, _ = self.run_matrix("--target", f"localhost:{server.port}")
        self.assertEqual({o["code"] for o in obs.values()}, {"UNAVAILABLE"})

    def test_docs_client_over_tls_exits_zero(self):
        server = self.start_tls_server()
        result = run_client(
            "--target", f"localhost:{server.port}", "--tls", "--ca", self.pki["ca.crt"]
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Error: StatusCode.NOT_FOUND, User 123 not found", result.stdout)
        self.assertIn("Created 5 users", result.stdout)

    def test_tls_server_stops_on_sigterm_with_status_zero(self):
        server = self.start_tls_server()
        code, _, err = server.stop()
        self.assertEqual(code, 0, err)


if __name__ == "__main__":
    unittest.main()
