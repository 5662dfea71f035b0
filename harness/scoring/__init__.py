"""Head scores from weights: every torch computation of a head scan.

Owns, one idea per module (lower modules never import higher ones):
- `methods`: the one list of ablation methods and scan algorithms (imports nothing, no torch);
- `rank_agreement`: the rank statistic comparing two scans (Spearman, shared top-k; no torch);
- `scan_flops`: the scans' multiply-add counts (no torch);
- `geometry`: device/dtype parameter, (n_layers, n_heads, d_head), hook names, layer selection;
- `prompts`: a PromptSet as tensors (`Prompts`, `as_prompts`); `progress`: the one tqdm bar;
- `readout`: the one logit-difference readout (from the final residual or from full logits);
- `memory`: memory planning (rows per forward / per backward within a budget);
- `ablation`: the one ablation-values function (`ablation_values`: zero or mean per template);
- `result`: the one result type (`ScanResult`) and its constructors;
- `exact_inputs`: what every exact scan starts from;
- the scans: `naive` (reference loop), `batched` (exact, fast; `iter_batched_layers` for shards),
  `attribution` (attribution patching, optionally GradDrop), `integrated_gradients` (the IG screen,
  `attribution_ig`), `tl_patching` (TransformerLens's patching helper, for benchmarks);
- `faithfulness`: logit differences with whole head sets ablated (keep-masks, many per forward);
- `roles`: the role diagnostics of every head (names in `role_columns`);
- `head_scores`: `score_heads`, the one entry point, dispatching over its registry `SCANS`.

May import: harness.data (prompt sets), harness.models.
Must not import: runs, analysis, claims, report, cli.
"""
