"""AgentGym's tool-use envs (``agentenv-tool``): Weather, Movie, Academia, Sheet and TODOList.

:mod:`.base` holds what they share (tool schemas, parsing ``<tool> with Action Input: <args>``
without ``eval``, argument checks, ``check_valid_actions``, answer matching); each env is one
module with its backend beside it.
"""
