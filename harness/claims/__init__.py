"""The seed's claims: the checks (`checks`), the numbers they use (`thresholds`, read from
claims/thresholds.toml), the sources of head tables they run on (`sources`) and the record of checks
that do not hold (`verdicts`, claims/verdicts.toml); the grid of the analyst's choices (`grid`,
claims/robustness.toml) and the share of it where each check holds (`robustness`); the faithfulness
measurements C1-C3 read (`faithfulness_runs`: which head sets, measured through harness.runs).

May import: harness.files (atomic writes of verdicts.toml), harness.data, harness.models.registry, harness.analysis, harness.runs (lazily: sources, and
robustness / grid for RunSpec defaults and the committed scan time of its cost notes).
Must not import: report, cli, pytest. `sweep_cache` keeps each source's robustness sweep in <cache>/sweeps/ (harness.paths, harness.files).
"""
