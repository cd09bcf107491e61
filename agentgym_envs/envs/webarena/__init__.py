"""WebArena on generated offline sites: a shop, a Postmill-like forum and a GitLab-like code host,
seen as WebArena's accessibility tree and driven by its id-based actions (see env.py)."""

from agentgym_envs.envs.webarena.env import WebArenaEnv

__all__ = ["WebArenaEnv"]
