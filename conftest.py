"""Root conftest: loads the suite's pytest plugin, harness/pytest_plugin.py (options, claim checks,
verdict table, snapshots)."""

pytest_plugins = ["harness.pytest_plugin"]
