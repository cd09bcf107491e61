"""ALFWorld (AgentGym's ``alfworld_<n>``) on ALFWorld's own engine.

- ``logic``: the PDDL domain and text grammar of the games AgentGym plays (ALFWorld 2.1.1).
- ``generate``: ALFRED-style PDDL problems of the six task types, one per task id.
- ``games``: where a task id's game comes from (generated and cached, or ALFWorld's files).
- ``engine``: the games on textworld's PDDL logic and fast-downward, compiled once, fast steps.
- ``env``: the Gymnasium env with AgentGym's observation text, and the planner expert.
"""

from agentgym_envs.envs.alfworld.env import ALFWorldEnv

__all__ = ["ALFWorldEnv"]
