"""The committed stubs in gen/ are exactly what generate.sh produces from proto/user/user.proto."""

import os
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen")


def generated_files(directory):
    """Maps file name to bytes for every file in directory (bytecode caches aside)."""
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name != "__pycache__" and os.path.isfile(path):
            with open(path, "rb") as f:
                files[name] = f.read()
    return files


class GeneratedStubsTest(unittest.TestCase):
    def test_committed_stubs_match_a_fresh_generation(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run(
                ["bash", os.path.join(HERE, "generate.sh"), tmp],
                capture_output=True,
                text=True,
                timeout=120,
            )
            self.assertEqual(result.returncode, 0, result.stderr)
            fresh = generated_files(tmp)

        committed = generated_files(GEN)
        self.assertEqual(
            sorted(fresh), ["user_pb2.py", "user_pb2.pyi", "user_pb2_grpc.py"], "generate.sh output"
        )
        self.assertEqual(
            sorted(committed), sorted(fresh), "gen/ holds exactly the generated files"
        )
        stale = [name for name in fresh if committed[name] != fresh[name]]
        self.assertEqual(stale, [], "gen/ is stale: run bash interop/python/generate.sh")


if __name__ == "__main__":
    unittest.main()
