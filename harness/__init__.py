"""Harness for checking claims about IOI attention heads: head tables, transfer metrics, head scores."""

# Bumped whenever a change alters computed head scores; part of every cache key.
HARNESS_VERSION = "0.1.0"

__all__ = ["HARNESS_VERSION"]
