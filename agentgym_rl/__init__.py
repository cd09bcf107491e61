"""Training LLM agents on AgentGym envs: the policy, batched rollouts, behavioural cloning,
AgentEvol and AgentEval. Imports ``agentgym_envs``; never the other way round."""

__version__ = "0.1.0"
