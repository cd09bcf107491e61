"""Where an ALFWorld task id's game comes from: our generator (cached), or ALFWorld's files.

Generated games are written to ``<cache>/games/<task_id>.tw-pddl`` on first use, in ALFWorld's
own file format, so alfworld's tools can open them too. Real games are AgentGym's: its mapping
file (``mappings_test.json``: item ids 2420-2619; ``mappings_train.json``) names, for each item
id, a task folder of ALFWorld's ``json_2.1.1`` release.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentgym_envs.envs.alfworld.generate import generate_game

GENERATOR_VERSION = 2  # bump when generate.py changes what a task id gives
# The json_2.1.1 folders AgentGym reads: train games (mappings_train) and its test split
# (mappings_test, taken from ALFWorld's valid_train folder); the others for completeness.
RELEASE_FOLDERS = ("valid_train", "train", "valid_seen", "valid_unseen")


class GeneratedGames:
    """Task id -> generated game, cached as files under ``folder``."""

    def __init__(self, folder: Path):
        self.folder = folder / f"games-v{GENERATOR_VERSION}"

    def __call__(self, task_id: int) -> dict:
        path = self.folder / f"{task_id}.tw-pddl"
        if path.exists():
            try:
                return json.loads(path.read_text())
            except ValueError:  # a file cut short by a crash: make it again
                pass
        game = generate_game(task_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(game))
        tmp.replace(path)
        return game


class RealGames:
    """AgentGym item id -> ALFWorld game file, through AgentGym's mapping."""

    def __init__(self, data_dir: str | Path, mapping: str | Path):
        self.root = _release_root(Path(data_dir).expanduser())
        entries = json.loads(Path(mapping).expanduser().read_text())
        self.paths: dict[int, Path] = {}
        for entry in entries:
            self.paths[int(entry["item_id"])] = self._find(entry["task_type"], entry["task_id"])

    @property
    def task_ids(self) -> list[int]:
        return sorted(self.paths)

    def task_type(self, task_id: int) -> str:
        return self.paths[task_id].parent.parent.name.split("-")[0]

    def __call__(self, task_id: int) -> dict:
        return json.loads(self.paths[task_id].read_text())

    def _find(self, task_type: str, trial: str) -> Path:
        for folder in RELEASE_FOLDERS:
            path = self.root / folder / task_type / trial / "game.tw-pddl"
            if path.exists():
                return path
        raise FileNotFoundError(f"no game.tw-pddl for {task_type}/{trial} under {self.root}")


def _release_root(data_dir: Path) -> Path:
    """Accept the folder holding ``json_2.1.1`` (ALFWorld's $ALFWORLD_DATA) or that folder itself."""
    for candidate in (data_dir / "json_2.1.1", data_dir):
        if any((candidate / folder).is_dir() for folder in RELEASE_FOLDERS):
            return candidate
    raise FileNotFoundError(f"{data_dir} holds no json_2.1.1 release (expected json_2.1.1/valid_train/...)")
