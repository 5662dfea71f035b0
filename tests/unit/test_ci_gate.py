"""The CI gate (.ci/run) fails when the test run ran nothing: pytest's exit 5 (no test collected) is a
failure, as is any other non-zero code. Seen red before the fix: .ci/run turned exit 5 into 0."""

import shutil
import subprocess

import pytest

from harness.paths import REPO_ROOT

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("test_rc, gate_fails", [(0, False), (1, True), (5, True)])
def test_the_gate_fails_when_pytest_collected_nothing(tmp_path, test_rc, gate_fails):
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO_ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    fake = tmp_path / "run"  # stands in for ./run: lint passes, test exits with test_rc
    fake.write_text(f'#!/usr/bin/env bash\n[ "$1" = lint ] && exit 0\nexit {test_rc}\n')
    fake.chmod(0o755)
    result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True, timeout=60)
    assert (result.returncode != 0) == gate_fails, result.stderr
    if test_rc == 5:
        assert "collected no tests" in result.stderr
