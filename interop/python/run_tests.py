"""Runs every unittest here. With POLYRPC_TEST_REPORT_DIR set (CI), also writes the package's
suite report in the shape every suite writes (see tests/reporting), one result per test."""

import json
import os
import re
import sys
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class RecordingResult(unittest.TextTestResult):
    """A text result that also keeps every test's verdict, for the report."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.verdicts = []

    def _record(self, test, status, message=""):
        self.verdicts.append({"fullName": test.id(), "status": status, "failureMessages": [message] if message else []})

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failed", "".join(traceback.format_exception(*err)))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "failed", "".join(traceback.format_exception(*err)))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, "passed")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, "failed", "passed although marked expectedFailure")


def report_file_name(package_name: str, script: str) -> str:
    """tests/reporting/src/report-name.ts's rule: one report per package and script."""

    def safe(part: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "-", re.sub(r"^@", "", part))

    return f"{safe(package_name)}.{safe(script)}.json"


def main() -> int:
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=2, resultclass=RecordingResult).run(suite)
    passed = sum(1 for verdict in result.verdicts if verdict["status"] == "passed")
    not_passed = len(result.verdicts) - passed
    print(f"python unittest: {passed} passed, {not_passed} not passed")
    ok = not_passed == 0 and passed > 0
    report_dir = os.environ.get("POLYRPC_TEST_REPORT_DIR")
    if report_dir:
        with open(os.path.join(HERE, "package.json"), encoding="utf-8") as manifest:
            name = json.load(manifest)["name"]
        script = os.environ.get("npm_lifecycle_event") or "test"
        report = {
            "success": ok,
            "testResults": [
                {
                    "name": "interop/python",
                    "status": "passed" if ok else "failed",
                    "assertionResults": result.verdicts,
                }
            ],
        }
        with open(os.path.join(report_dir, report_file_name(name, script)), "w", encoding="utf-8") as out:
            json.dump(report, out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
