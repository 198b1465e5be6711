"""Runs every unittest here. With POLYRPC_TEST_REPORT_DIR set (CI), also writes
python-test-interop.json ({numPassedTests, numFailedTests}) for .ci/summarize.mjs."""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    # A skipped test would be a test that did not run: count it as a failure.
    failed += len(result.skipped)
    print(f"python unittest: {passed} passed, {failed} failed")
    report_dir = os.environ.get("POLYRPC_TEST_REPORT_DIR")
    if report_dir:
        with open(os.path.join(report_dir, "python-test-interop.json"), "w", encoding="utf-8") as out:
            json.dump({"numPassedTests": passed, "numFailedTests": failed, "testResults": []}, out)
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
