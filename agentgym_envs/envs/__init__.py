"""One module per env family; each defines a :class:`~agentgym_envs.core.TextEnv` subclass."""
