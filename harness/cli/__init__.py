"""The command line (`python -m harness`, `ioi-claims`): argument parsing and printing only
(`main`), argument types (`args`) and the scan benchmark (`bench`). Every number it prints is computed elsewhere
(the faithfulness sets and their measurement: harness.claims.faithfulness_runs).

May import: every other subpackage. Nothing imports it except harness/__main__.py.
"""
