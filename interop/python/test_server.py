"""The servicer in-process, with a stand-in context: behaviour that is awkward to see over the wire."""

import threading
import unittest

import grpc

import server  # puts gen/ on sys.path
import user_pb2


class Aborted(Exception):
    pass


class FakeContext:
    """Enough of grpc.ServicerContext for the servicer: abort raises, is_active counts down."""

    def __init__(self, active_checks=None):
        self.active_checks = active_checks  # None: always active
        self.aborted = None

    def abort(self, code, details):
        self.aborted = (code, details)
        raise Aborted(details)

    def is_active(self):
        if self.active_checks is None:
            return True
        self.active_checks -= 1
        return self.active_checks >= 0


class ServicerTest(unittest.TestCase):
    def setUp(self):
        self.servicer = server.UserServiceServicer()

    def create(self, name):
        request = user_pb2.CreateUserRequest(username=name, email=f"{name}@example.com", password="password")
        return self.servicer.CreateUser(request, FakeContext())

    def test_get_user_with_an_empty_id_aborts_with_invalid_argument(self):
        context = FakeContext()
        with self.assertRaises(Aborted):
            self.servicer.GetUser(user_pb2.GetUserRequest(id=""), context)
        self.assertEqual(context.aborted, (grpc.StatusCode.INVALID_ARGUMENT, "User ID is required"))

    def test_get_user_of_an_unknown_id_aborts_with_not_found(self):
        context = FakeContext()
        with self.assertRaises(Aborted):
            self.servicer.GetUser(user_pb2.GetUserRequest(id="123"), context)
        self.assertEqual(context.aborted, (grpc.StatusCode.NOT_FOUND, "User 123 not found"))

    def test_created_users_get_a_uuid_and_a_timestamp_and_can_be_read_back(self):
        user = self.create("ada")
        self.assertEqual(len(user.id), 36)
        self.assertGreater(user.created_at, 0)
        self.assertEqual(self.servicer.GetUser(user_pb2.GetUserRequest(id=user.id), FakeContext()), user)

    def test_list_users_stops_once_the_rpc_is_no_longer_active(self):
        for i in range(5):
            self.create(f"user{i}")
        sent = list(self.servicer.ListUsers(user_pb2.ListUsersRequest(), FakeContext(active_checks=2)))
        self.assertEqual([u.username for u in sent], ["user0", "user1"])

    def test_list_users_survives_concurrent_creates(self):
        for i in range(3):
            self.create(f"user{i}")
        stream = self.servicer.ListUsers(user_pb2.ListUsersRequest(), FakeContext())
        next(stream)
        writers = [threading.Thread(target=self.create, args=(f"late{i}",)) for i in range(20)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        # The stream goes on over the snapshot it took; the dict changing size does not break it.
        self.assertEqual(len(list(stream)), 2)
        self.assertEqual(len(self.servicer.users), 23)


if __name__ == "__main__":
    unittest.main()
