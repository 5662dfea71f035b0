"""Head scores from weights: the ablation methods and scan algorithms (`methods`, the one list of
both), the scans themselves (`head_scores`), logit differences with whole head sets ablated
(`faithfulness`), their multiply-add counts (`scan_flops`), and the role diagnostics of every head
(`roles`, names in `role_columns`).

May import: harness.data (prompt sets), harness.models.
Must not import: runs, analysis, claims, report, cli.
"""
