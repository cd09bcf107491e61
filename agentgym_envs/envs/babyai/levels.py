"""minigrid glue: AgentGym's 40 BabyAI levels, how a task id becomes a level, and the repairs.

This is the only module of the family that imports minigrid (inside ``engine_imports``, so a
missing minigrid is a one-line error naming the ``babyai`` extra); the others take minigrid's
names from here.

AgentGym took the env from AgentBoard: task ``i`` is level ``LEVELS[i % 40]`` generated with
seed ``i // 40``. ``BabyAI-GoToObjS6-v0`` is ``-v1`` in minigrid 3.x (the same level, fixed).

Two minigrid faults matter here. Its sequence verifier fails every two-door mission of
OpenDoorsOrderN4Debug on the toggle that opens the first door; ``repair_strict_sequences``
fixes that. GoToImpUnlock compares room indices with ``is``, so now and then the key lands
inside the room it locks; such tasks (babyai_246 and babyai_566 among ours) cannot be solved.
"""

from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from agentgym_envs.registration import engine_imports

with engine_imports("BabyAI"):
    import minigrid  # noqa: F401  (registers the BabyAI-* ids)
    from minigrid.core.constants import COLOR_NAMES  # noqa: F401  (for the env)
    from minigrid.envs.babyai.core import verifier  # the mission's instruction classes

# AgentBoard's / AgentGym's 40 levels, easiest first (agentenv-babyai ``all_levels``).
LEVELS = (
    "BabyAI-GoToRedBallGrey-v0",
    "BabyAI-GoToRedBall-v0",
    "BabyAI-GoToRedBallNoDists-v0",
    "BabyAI-GoToObjS6-v1",
    "BabyAI-GoToLocalS8N7-v0",
    "BabyAI-GoToObjMazeS7-v0",
    "BabyAI-GoToImpUnlock-v0",
    "BabyAI-GoToSeqS5R2-v0",
    "BabyAI-GoToRedBlueBall-v0",
    "BabyAI-GoToDoor-v0",
    "BabyAI-GoToObjDoor-v0",
    "BabyAI-Open-v0",
    "BabyAI-OpenRedDoor-v0",
    "BabyAI-OpenDoorLoc-v0",
    "BabyAI-OpenRedBlueDoorsDebug-v0",
    "BabyAI-OpenDoorsOrderN4Debug-v0",
    "BabyAI-Pickup-v0",
    "BabyAI-UnblockPickup-v0",
    "BabyAI-PickupLoc-v0",
    "BabyAI-PickupDistDebug-v0",
    "BabyAI-PickupAbove-v0",
    "BabyAI-PutNextLocalS6N4-v0",
    "BabyAI-PutNextS7N4Carrying-v0",
    "BabyAI-Unlock-v0",
    "BabyAI-UnlockLocalDist-v0",
    "BabyAI-KeyInBox-v0",
    "BabyAI-UnlockPickupDist-v0",
    "BabyAI-BlockedUnlockPickup-v0",
    "BabyAI-UnlockToUnlock-v0",
    "BabyAI-ActionObjDoor-v0",
    "BabyAI-FindObjS7-v0",
    "BabyAI-KeyCorridorS6R3-v0",
    "BabyAI-OneRoomS20-v0",
    "BabyAI-MoveTwoAcrossS8N9-v0",
    "BabyAI-SynthS5R2-v0",
    "BabyAI-SynthLoc-v0",
    "BabyAI-SynthSeq-v0",
    "BabyAI-MiniBossLevel-v0",
    "BabyAI-BossLevel-v0",
    "BabyAI-BossLevelNoUnlock-v0",
)

# minigrid's primitive actions
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = range(6)
# minigrid's directions: 0 east (+x), 1 south (+y), 2 west, 3 north
DIR_VECTORS = ((1, 0), (0, 1), (-1, 0), (0, -1))
VIEW = 7  # minigrid's default agent_view_size, which every BabyAI level uses
NAMED_TYPES = frozenset(("key", "ball", "box", "door"))
PICKABLE_TYPES = frozenset(("key", "ball", "box"))


def level_of_task(task_id: int) -> tuple[str, int]:
    """AgentGym's mapping: task ``i`` is level ``i % 40`` with seed ``i // 40``."""
    return LEVELS[task_id % len(LEVELS)], task_id // len(LEVELS)


def make_level(level_id: str):
    """A bare minigrid level (no Gymnasium wrappers) whose steps skip the image observation.

    The text view is built from the grid directly, so minigrid's per-step image encoding
    (most of a primitive step's cost) is switched off for this instance."""
    spec = gym.spec(level_id)
    level = load_env_creator(spec.entry_point)(**spec.kwargs)
    level.gen_obs = _no_image
    return level


def _no_image() -> None:
    return None


def repair_strict_sequences(instr, level) -> None:
    """Let the second of two sequenced instructions ignore the step that completed the first.

    minigrid's ``BeforeInstr``/``AfterInstr`` verify the step that completes the first part a
    second time, against the second part. A strict ``open`` instruction counts that toggle of
    the first door as opening a wrong door and fails the mission, so "open the red door, then
    open the blue door" can never succeed in OpenDoorsOrderN4Debug (two of its three mission
    kinds). Non-strict instructions are unaffected: they only fail on their own actions."""
    if isinstance(instr, (verifier.BeforeInstr, verifier.AfterInstr)):
        if isinstance(instr, verifier.BeforeInstr):
            first, second = instr.instr_a, instr.instr_b
        else:
            first, second = instr.instr_b, instr.instr_a
        if getattr(second, "strict", False):
            _ignore_completing_step(first, second, level)
    if isinstance(instr, (verifier.BeforeInstr, verifier.AfterInstr, verifier.AndInstr)):
        repair_strict_sequences(instr.instr_a, level)
        repair_strict_sequences(instr.instr_b, level)


def _ignore_completing_step(first, second, level) -> None:
    verify_first, verify_second = first.verify, second.verify_action
    completed_at = [-1]

    def first_verify(action):
        status = verify_first(action)
        if status == "success":
            completed_at[0] = level.step_count
        return status

    def second_verify_action(action):
        if completed_at[0] == level.step_count:
            return "continue"
        return verify_second(action)

    first.verify = first_verify
    second.verify_action = second_verify_action
