"""Runs of the scans and where their results live: the content-keyed score cache (user cache and the
committed read-only layer under fixtures/recomputed/) and `recompute`, which turns a RunSpec into a
head table, computing only what no cache holds; `roles`, the role tables' store (fixtures/roles/);
`faithfulness`: head-set logit differences of a zoo model, stored in fixtures/faithfulness/; `bench`: the
scan benchmark's timings, matmul peaks and comparisons.

May import: harness.paths, harness.files, harness.data, harness.models, harness.scoring.
Must not import: analysis, claims, report, cli.
"""
