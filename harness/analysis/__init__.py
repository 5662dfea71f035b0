"""Statistics over head tables, pure functions of pandas frames: transfer of IOI heads between two
models (`transfer`), its uncertainty (`uncertainty`: bootstrap intervals, permutation tests) and
mean_frac_rank on a scale comparable across target sizes (`rank_metric`); correspondences between the heads
of two models (`correspondence`) and transfer under them (`role_transfer`); faithfulness of head sets
(`faithfulness`: f, curves, CPR/CMD, random-set nulls, the plan of sets to measure) and causal
transfer of a set between models (`causal_transfer`: mapped sets, efficiency).
Agreement of two scans of one model lives with the scans (`harness.scoring.rank_agreement.agreement`, torch-free).

May import: harness.data, harness.models.registry, harness.scoring.methods, harness.scoring.rank_agreement (both torch-free).
Must not import: runs (no model is ever run from here), claims, report, cli.
"""
