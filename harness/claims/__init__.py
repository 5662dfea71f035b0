"""The seed's claims: the checks (`checks`), the numbers they use (`thresholds`, read from
claims/thresholds.toml), the sources of head tables they run on (`sources`) and the record of checks
that do not hold (`verdicts`, claims/verdicts.toml).

May import: harness.data, harness.models.registry, harness.analysis, harness.runs (sources only, lazily).
Must not import: report, cli, pytest.
"""
