"""Inputs that hold no model: the head-table schema, the origin's published tables, the IOI prompt
sets and the tokenizers that build them, and how a head set is written in a results table
(`head_sets`).

May import: harness.paths, harness.models.registry (model names and geometry, pure data).
Must not import: torch-backed scoring, runs, claims, report, cli.
"""
