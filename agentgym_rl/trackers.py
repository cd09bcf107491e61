"""Training curves for TensorBoard (and Weights & Biases when asked): ``--report_to``.

``agentgym bc`` writes its loss, learning rate and tokens/s under ``<out>/tensorboard``;
``agentgym evolve`` writes each stage's training curve and every metrics line of its run folder
(AgentEval success and score per env, exploration success, tokens/s, episodes/min) under
``<run_dir>/tensorboard``, with the stage number (bc-base 0, iter1 1, ...) as the step;
``agentgym grpo`` writes every step's metrics line (``train/``: reward, success, advantage spread,
zero-variance share, KL, clip fraction, entropy, tokens/s, episodes/min), its AgentEval
(``eval/``) and the loss per optimizer step (``update/``), the GRPO step as the step. Open them
with ``tensorboard --logdir runs``. W&B runs only when its package is installed and
``--report_to wandb`` asks for it (it then follows ``WANDB_MODE``, e.g. offline).
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

REPORTERS = ("tensorboard", "wandb", "none")


def check_report_to(report_to: list[str]) -> list[str]:
    unknown = [name for name in report_to if name not in REPORTERS]
    if unknown:
        raise ValueError(f"report_to: unknown {', '.join(unknown)}; choose from {', '.join(REPORTERS)}")
    return [name for name in report_to if name != "none"]


class Tracker:
    """Scalars to every reporter asked for; a no-op with ``report_to=["none"]``."""

    def __init__(
        self, log_dir: str | Path, report_to: list[str], run_name: str = "", config: dict | None = None
    ):
        self.reporters = check_report_to(report_to)
        self.writer = None
        self.wandb_run = None
        if "tensorboard" in self.reporters:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(log_dir))
        if "wandb" in self.reporters:
            self.wandb_run = _start_wandb(run_name or Path(log_dir).parent.name, config)

    @classmethod
    def in_folder(cls, folder: str | Path, report_to: list[str]) -> Tracker:
        """The tracker of a run or training folder: ``<folder>/tensorboard``, named after it."""
        return cls(Path(folder) / "tensorboard", report_to, run_name=Path(folder).name)

    def log(self, values: dict[str, Any], step: int, prefix: str = "") -> None:
        """Every number in ``values`` (nested dicts become ``a/b`` tags) at ``step``."""
        flat = {f"{prefix}{tag}": value for tag, value in _numbers(values)}
        if self.writer is not None:
            for tag, value in flat.items():
                self.writer.add_scalar(tag, value, step)
            self.writer.flush()  # a crash keeps what was logged, as metrics.jsonl does
        if self.wandb_run is not None:
            self.wandb_run.log(flat | {"step": step})

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb_run is not None:
            self.wandb_run.finish()


def _numbers(values: dict[str, Any], prefix: str = ""):
    for key, value in values.items():
        tag = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _numbers(value, f"{tag}/")
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            yield tag, float(value)


def _start_wandb(name: str, config: dict | None):
    try:
        import wandb
    except ModuleNotFoundError:
        raise ModuleNotFoundError("report_to wandb needs the wandb package: pip install wandb") from None
    return wandb.init(project="agentgym", name=name, config=config or {}, reinit=True)
