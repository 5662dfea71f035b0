"""The command line (`python -m harness`, `ioi-claims`): argument parsing and printing
only. Each command is one module that declares its parser (`add_parser(sub)`) and runs it (`run(args)`):
transfer, report (its --ablation-view: `ablation_view`), audit, verdicts, zoo, scores, leave_one_out,
robustness, faithfulness, models, bench, roles, role_transfer, controls. `main` builds the parser from
them, parses the global flags and turns errors into one line; `args` declares the options several
commands share, `common` resolves them (source, thresholds, scan checks), `output` prints. Every number
it prints is computed elsewhere (the bench's: harness.runs.bench; the faithfulness sets:
harness.claims.faithfulness_runs).

May import: every other subpackage. Nothing imports it except harness/__main__.py.
"""
