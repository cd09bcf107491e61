"""BabyAI (AgentGym's BabyAI, item ids ``babyai_<n>``), on minigrid's BabyAI levels.

AgentGym took this env from AgentBoard: 40 minigrid BabyAI levels, task ``i`` is level
``LEVELS[i % 40]`` generated with seed ``i // 40``. The agent reads a text view of its
egocentric 7x7 view (the goal, each visible object with its distance and side, the wall ahead,
what it carries, the available actions) and answers with high-level actions that a path planner
compiles into minigrid's primitive moves::

    turn left | turn right | move forward | drop | toggle | check available actions
    go to <color> <type> <n> | pickup <color> <type> <n> | go through <color> door <n>

The agent knows what it has been shown: the cells in view at the end of each action. It may act
on any object it has seen, and paths (A* over position and heading) run only over seen cells,
opening closed doors on the way (a locked one with the matching key in hand).

Differences from AgentGym, all deliberate: object numbers are stable for the whole episode
(AgentGym renumbers them every view); the agent remembers objects it saw earlier; ``go through``
also opens closed and locked doors (AgentGym's ``toggle and go through``, accepted as an alias);
``drop`` facing an object puts the carried one on a free cell next to it; the mission text is
minigrid's own (AgentGym rewrites "then" and "after you" to "and", which loses the order).

The package, one part per module:

* ``levels``: minigrid glue (the only module that imports minigrid), the 40 levels, task ids
  to levels, and a repair of minigrid's sequence verifier.
* ``view``: what the agent sees and remembers (:class:`KnownGrid`) and the observation's words.
* ``planner``: A* over the seen cells, compiling high-level actions into primitive moves.
* ``env``: :class:`BabyAIEnv`, and :class:`PrivilegedView`, all a scripted solver may read.
* ``expert``: :class:`BabyAIExpert`, which reads only the :class:`PrivilegedView`.
* ``search``: the expert's searches over the true grid (routes to unseen targets, sight lines).
"""

from agentgym_envs.envs.babyai.env import BabyAIEnv, PrivilegedView
from agentgym_envs.envs.babyai.expert import BabyAIExpert
from agentgym_envs.envs.babyai.levels import LEVELS, level_of_task, make_level
from agentgym_envs.envs.babyai.view import KnownGrid, visible_cells

__all__ = [
    "LEVELS",
    "BabyAIEnv",
    "BabyAIExpert",
    "KnownGrid",
    "PrivilegedView",
    "level_of_task",
    "make_level",
    "visible_cells",
]
