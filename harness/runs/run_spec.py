"""`RunSpec`: everything that decides a head table besides the model (ablation method, scan
algorithm, prompt spec, weights, category rule, dtype). A plain frozen dataclass: no model is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.data.head_table import DEFAULT_TAU
from harness.data.ioi_dataset import TaskSpec
from harness.models.registry import ModelSpec
from harness.scoring.methods import DEFAULT_IG_PATH, DEFAULT_IG_STEPS

DEFAULT_N_PROMPTS = 200
DEFAULT_SEED = 0


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides a head table besides the model."""

    method: str = "mean"  # zero (the origin's) | mean (over the ABC distribution; our default)
    algorithm: str = "batched"  # batched (exact) | naive (exact, slow) | attribution* (approximate)
    style: str = "wang"
    n_prompts: int = DEFAULT_N_PROMPTS
    seed: int = DEFAULT_SEED
    weights: str = "pretrained"
    rule: str = "signed"  # category rule (origin code); "absolute" = origin draft
    tau: float = DEFAULT_TAU
    dtype: str = "float32"  # compute dtype; float32 is the reference (bfloat16 on CPU: ~2x faster)
    # attribution_ig only (out of the repr, which snapshots record; in the cache key via algorithm_key):
    ig_steps: int = field(default=DEFAULT_IG_STEPS, repr=False)  # midpoint steps m
    ig_path: str = field(default=DEFAULT_IG_PATH, repr=False)  # "all" | "layer" (scoring.methods.IG_PATHS)

    @property
    def algorithm_key(self) -> str:
        """The algorithm as the cache key names it: attribution_ig with its steps and path."""
        if self.algorithm == "attribution_ig":
            return f"attribution_ig[m={self.ig_steps},path={self.ig_path}]"
        return self.algorithm

    def task(self, task: str, model: ModelSpec | None = None) -> TaskSpec:
        """The prompt set of `task`; with `model`, under that model's BOS convention."""
        bos = model.prepend_bos if model is not None else True
        return TaskSpec(task=task, style=self.style, n_prompts=self.n_prompts, seed=self.seed, prepend_bos=bos)
