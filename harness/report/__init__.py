"""Presentation of evaluated claims, and the documents made from the code: the one `Report` of a run
with its verdict and source tables and the plot of the six pairs (`render`), the zoo's and the
controls' sections, each check under zero, mean and counterfactual side by side (`ablation_view`), the
plots, the scan benchmark's table (`bench`), the registry's table (`models_table`), and the generated docs (`roles_section`, `module_map`). Computes no statistic: every number it
prints comes from harness.claims, harness.analysis or harness.scoring.

May import: harness.files (atomic writes of the outputs), harness.claims, harness.analysis, harness.runs (committed tables), harness.models.registry
(and harness.models.weights / gguf / requant for the models table, `models_table`).
Must not import: cli, pytest.
"""
