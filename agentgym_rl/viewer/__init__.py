"""``agentgym view PATH``: a local web page over a run folder or an episodes file.

The run's AgentEval table and curves, every episode step by step (filtered by env, stage, task
and success), two stages side by side on one task, and a picture where the env has one (Maze and
BabyAI replayed in the env, TextCraft's recipe tree, a browser env's screenshots). Standard
library only: ``http.server`` on 127.0.0.1, HTML rendered on the server, a little JavaScript.
Files are read lazily (:mod:`agentgym_rl.viewer.records`), so a 100k-episode run stays quick.
"""

from agentgym_rl.viewer.server import PAGE_SIZE, Viewer, ViewerError, make_server, serve

__all__ = ["PAGE_SIZE", "Viewer", "ViewerError", "make_server", "serve"]
