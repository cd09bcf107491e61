"""What a run folder holds, as the viewer shows it: its episode files, AgentEval results and curves.

The layouts written by ``agentgym evolve`` (:mod:`agentgym_rl.agentevol`), ``agentgym grpo`` and
``agentgym eval --out``::

    eval/{stage}.json  eval/{stage}.episodes.jsonl  (.samples.jsonl: Pass@K; .partial.jsonl: running)
    trajectories/explore_{stage}.jsonl  data/agenttraj.json  metrics.jsonl  success.png

A folder of runs (``runs/rl-study/maze`` holds ``runs/grpo/`` beside its own ``eval/``) is read
the same way: each folder with an ``eval/`` or a ``metrics.jsonl`` is a *group*, named by its
path under the folder given. Model folders (weights, checkpoints, TensorBoard) are skipped.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentgym_rl.viewer.records import RecordFile, looks_like_episode_list

SKIPPED_FOLDERS = re.compile(r"^(tensorboard|checkpoints?|checkpoint-\d+|.*\.partial|\..*)$")
MAX_DEPTH = 6  # folders below the one given: a study of runs nests 4 deep (maze/runs/grpo/eval)
KIND_ORDER = ("AgentEval", "Pass@K samples", "explore", "expert data", "episodes")


@dataclass
class Source:
    """One episode file of the run, and where it stands among the run's stages."""

    key: str  # its path under the run folder, '/'-separated: the id in the viewer's URLs
    path: Path
    group: str  # the folder of runs it belongs to ('' for the run itself)
    stage: str  # bc-base, iter1, step-30, ...
    kind: str  # one of KIND_ORDER
    running: bool  # a .partial file: the stage is still being played
    file: RecordFile = field(repr=False, default=None)

    def __post_init__(self) -> None:
        if self.file is None:
            self.file = RecordFile(self.path)

    @property
    def label(self) -> str:
        words = [self.group, self.stage] if self.group else [self.stage]
        suffix = "" if self.kind == "AgentEval" else f" ({self.kind})"
        return " · ".join(words) + suffix + (" [running]" if self.running else "")


def natural_key(text: str) -> list:
    """``step-30`` after ``step-4``; ``bc-base`` before ``iter1``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def classify(relative: Path) -> tuple[str, str, str, bool] | None:
    """(group, stage, kind, running) of an episode file at ``relative`` under the run, or None
    when the file is not one (settings, results, metrics, tokenizer files)."""
    name = relative.name
    parent = relative.parent
    if name == "metrics.jsonl":
        return None
    running = ".partial." in name
    stem = name.replace(".partial", "")
    if stem.endswith(".jsonl"):
        stem = stem.removesuffix(".jsonl")
    elif stem.endswith(".json"):
        stem = stem.removesuffix(".json")
    else:
        return None
    kind = "episodes"
    if stem.endswith(".episodes"):
        stem, kind = stem.removesuffix(".episodes"), "AgentEval"
    elif stem.endswith(".samples"):
        stem, kind = stem.removesuffix(".samples"), "Pass@K samples"
    elif parent.name in ("trajectories", "explore"):
        stem, kind = stem.removeprefix("explore_"), "explore"
    elif name.endswith(".json") or parent.name == "data":
        kind = "expert data"
    if parent.name in ("eval", "trajectories", "explore", "data"):
        parent = parent.parent
    group = "" if str(parent) == "." else parent.as_posix()
    return group, stem, kind, running


def find_sources(root: Path) -> list[Source]:
    """Every episode file under ``root``, grouped by run, then by kind, then in stage order."""
    sources = []
    for folder, folders, files in os.walk(root):
        deep = len(Path(folder).relative_to(root).parts) >= MAX_DEPTH
        folders[:] = [] if deep else sorted(f for f in folders if not SKIPPED_FOLDERS.match(f))
        if "model.safetensors" in files:  # a saved model: its JSON files are settings
            folders[:] = []
            continue
        for name in files:
            path = Path(folder, name)
            relative = path.relative_to(root)
            facts = classify(relative)
            if facts is None or (name.endswith(".json") and not looks_like_episode_list(path)):
                continue
            sources.append(Source(relative.as_posix(), path, *facts))
    sources.sort(
        key=lambda s: (natural_key(s.group), KIND_ORDER.index(s.kind), natural_key(s.stage), s.running)
    )
    return sources


# ------------------------------------------------------------------------------ results
@dataclass
class ResultsTable:
    """The AgentEval results of one group: stage -> env id -> the results JSON's entry."""

    group: str
    folder: Path
    stages: dict[str, dict[str, dict[str, Any]]]

    def env_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for results in self.stages.values():
            seen.update(dict.fromkeys(results))
        return list(seen)


def read_results(path: Path) -> dict[str, dict[str, Any]] | None:
    """An AgentEval results JSON (env id -> success_rate, intervals, ...), or None if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not data:
        return None
    if not all(isinstance(entry, dict) and "success_rate" in entry for entry in data.values()):
        return None
    return data


def results_tables(root: Path, groups: list[str]) -> list[ResultsTable]:
    """One table per group that has AgentEval results (``eval/*.json``, or ``*.json`` beside its
    episodes), stages in natural order."""
    tables = []
    for group in groups:
        folder = root / group if group else root
        # eval/ in evolve's and grpo's runs; beside the episodes for `agentgym eval --out DIR/NAME.json`
        found = [*(folder / "eval").glob("*.json"), *folder.glob("*.json")]
        paths = sorted(found, key=lambda p: natural_key(p.stem))
        stages = {}
        for path in paths:
            results = read_results(path)
            if results is not None:
                stages[path.stem] = results
        if stages:
            tables.append(ResultsTable(group, folder, stages))
    return tables


# ------------------------------------------------------------------------------ metrics
STEP_KEYS = ("mean_reward", "success_rate", "loss", "kl", "entropy")  # GRPO's per-step lines


@dataclass
class Curves:
    """What metrics.jsonl says over a run: per-step training values and exploration success per stage."""

    steps: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # key -> (step, value)
    explore: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # env -> (stage, success)


def read_curves(folder: Path) -> Curves:
    """Curves from ``folder/metrics.jsonl`` (a line cut short by a crash is skipped)."""
    curves = Curves()
    path = folder / "metrics.jsonl"
    if not path.is_file():
        return curves
    latest_step: dict[tuple[str, float], float] = {}
    with path.open(encoding="utf-8", errors="replace") as file:
        for text in file:
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if not isinstance(line, dict):
                continue
            if line.get("event") == "train" and _is_number(line.get("step")):
                for key in STEP_KEYS:
                    if _is_number(line.get(key)):
                        latest_step[(key, float(line["step"]))] = float(line[key])  # a resumed step: the last
            rates = line.get("success_rate_per_env")
            if line.get("event") == "explore" and isinstance(rates, dict):
                for env_id, rate in rates.items():
                    if _is_number(rate):
                        curves.explore.setdefault(env_id, []).append((str(line.get("stage")), float(rate)))
    for (key, step), value in sorted(latest_step.items(), key=lambda item: item[0][1]):
        curves.steps.setdefault(key, []).append((step, value))
    return curves


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def picture_files(folder: Path) -> list[Path]:
    """The run's own plots (``success.png``), shown as they are."""
    return sorted(folder.glob("*.png"))
