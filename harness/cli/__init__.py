"""The command line (`python -m harness`, `ioi-claims`): argument parsing and printing only
(`main`), argument types (`args`), the scan benchmark (`bench`) and the faithfulness glue (`faithfulness`: rankings,
correspondences, plan, measurement). Every number it prints is computed elsewhere.

May import: every other subpackage. Nothing imports it except harness/__main__.py.
"""
