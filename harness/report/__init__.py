"""Presentation of evaluated claims: verdict and source tables (terminal, Markdown) and the plot of the
six pairs (`render`), the robustness heatmap (`robustness_plot`), and each check under zero, mean and
counterfactual side by side with the agreement and cost of the three methods' tables (`ablation_view`). Computes no statistic: every
number it prints comes from harness.claims, harness.analysis or harness.scoring.

May import: harness.files (atomic writes of the outputs), harness.claims, harness.analysis, harness.runs (committed tables), harness.models.registry.
Must not import: cli, pytest.
"""
