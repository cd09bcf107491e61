"""The ``agentgym`` command line.

Each sub-command owns its parser, so ``agentgym <command> --help`` explains exactly its flags,
and heavy imports (torch, transformers) happen only in the commands that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {}


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (plus where to get help), not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CommandError(f"{message} (see '{self.prog} --help')")


def command(name: str, summary: str):
    """Register ``func(argv) -> exit status`` as ``agentgym <name>``."""

    def decorate(func: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
        COMMANDS[name] = (summary, func)
        return func

    return decorate


def parser_for(name: str, description: str) -> OneLineErrorParser:
    return OneLineErrorParser(
        prog=f"agentgym {name}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


# ------------------------------------------------------------------------------ list
@command("list", "list the registered AgentGym envs, their splits and whether their engine is installed")
def list_envs(argv: list[str]) -> int:
    parser_for("list", "List every AgentGym/* env with AgentGym's split sizes.").parse_args(argv)
    from agentgym_envs import ENVS, env_class, missing_engine

    header = (
        f"{'env id':<26} {'max rounds':>10} {'test':>6} {'agenttraj':>9} {'agenttraj_l':>11} {'train':>6}"
        "  status"
    )
    print(header)
    print("-" * len(header))
    for name, entry in ENVS.items():
        env_id = f"AgentGym/{name}-v0"
        problem = missing_engine(env_id)
        if problem:
            sizes, status = ["?"] * 4, f"missing: {problem}"
        else:
            cls = env_class(env_id)
            sizes = [len(cls.task_ids(split)) for split in ("test", "agenttraj", "agenttraj_l", "train")]
            status = "ready"
        print(
            f"{env_id:<26} {entry.max_rounds:>10} {sizes[0]:>6} {sizes[1]:>9} {sizes[2]:>11} {sizes[3]:>6}"
            f"  {status}"
        )
    return 0


# ------------------------------------------------------------------------------ play
@command("play", "play an env yourself in the terminal")
def play(argv: list[str]) -> int:
    parser = parser_for(
        "play",
        "Play an AgentGym env in the terminal. Type an action at the prompt; ':hint' shows the "
        "expert's next move, ':actions' the allowed actions, ':instruction' the task prompt, "
        "':quit' leaves.",
    )
    parser.add_argument("env", help="env name or id, e.g. maze or AgentGym/BabyAI-v0")
    parser.add_argument("--task-id", type=int, default=None, help="task to play (default: drawn by --seed)")
    parser.add_argument("--split", default="test", help="split a seeded task is drawn from")
    parser.add_argument("--seed", type=int, default=0, help="seed for drawing a task")
    args = parser.parse_args(argv)
    import gymnasium as gym

    from agentgym_envs import resolve_env_id

    env = gym.make(_env_id(args.env, resolve_env_id), split=args.split)
    options = {"task_id": args.task_id} if args.task_id is not None else None
    observation, info = env.reset(seed=args.seed, options=options)
    print(f"== {info['item_id']} ==\n{info['instruction']}\n\n{observation}")
    total = 0.0
    while True:
        try:
            action = input("> ").strip()
        except EOFError:
            break
        if action == ":quit":
            break
        if action in (":hint", ":actions", ":instruction"):
            print(_play_meta(env, info, action))
            continue
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        print(observation)
        if terminated or truncated:
            ending = "success" if info["success"] else ("out of rounds" if truncated else "ended")
            print(f"== episode over ({ending}): score {info['score']:.2f} ==")
            break
    env.close()
    return 0


def _play_meta(env, info: dict, request: str) -> str:
    if request == ":instruction":
        return info["instruction"]
    if request == ":actions":
        actions = info["available_actions"]
        return "\n".join(actions) if actions else "(this env has no finite action list)"
    thought, action = env.unwrapped.expert()
    return f"expert: {action}   ({thought})"


# ------------------------------------------------------------------------------ data
@command("data", "build AgentTraj / AgentTraj-L data with the expert, or write the AgentEval list")
def data(argv: list[str]) -> int:
    parser = parser_for(
        "data",
        "Write AgentGym-format data: expert trajectories for a training split (agenttraj = "
        "AgentTraj / BC-base, agenttraj_l = AgentTraj-L / BC-large, train = the full "
        "instruction set), or the AgentEval item list for --split eval.",
    )
    parser.add_argument(
        "--env", required=True, action="append", help="env name or id; repeat for several envs"
    )
    parser.add_argument("--split", default="agenttraj", help="agenttraj | agenttraj_l | train | eval")
    parser.add_argument("--out", required=True, help="output file: .json (AgentGym's layout) or .jsonl")
    parser.add_argument("--limit", type=int, default=None, help="at most this many tasks per env")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from agentgym_envs import require_engine
    from agentgym_envs.core import normalise_split
    from agentgym_envs.data import eval_items, expert_trajectories, save_trajectories

    env_ids = [_env_id(name, require_engine) for name in args.env]
    split = _checked(normalise_split, args.split)
    records = []
    for env_id in env_ids:
        if split == "test":
            records += eval_items(env_id)[: args.limit]
            continue
        solved, failed = expert_trajectories(env_id, split, limit=args.limit, progress=not args.quiet)
        records += solved
        print(f"{env_id}: {len(solved)} expert trajectories", file=sys.stderr)
        if failed:
            print(
                f"{env_id}: expert failed {len(failed)} tasks, left out: {', '.join(failed[:10])}",
                file=sys.stderr,
            )
    path = save_trajectories(records, args.out)
    print(f"wrote {len(records)} records to {path}")
    return 0


# ------------------------------------------------------------------------------ bc
@command("bc", "behavioural cloning of a model on AgentTraj data")
def bc(argv: list[str]) -> int:
    from agentgym_rl.bc import BCConfig
    from agentgym_rl.models import ModelConfig

    parser = hf_parser_for(
        "bc",
        (BCConfig, ModelConfig),
        "Behavioural cloning: train a model on AgentTraj JSON/JSONL (only gpt turns with loss "
        "true are learned) and save it with metrics.json to --out.",
    )
    parser.add_argument(
        "--model", default="tiny", help="preset (tiny, tiny-5m, tiny-20m, smollm2-135m) or local path"
    )
    parser.add_argument("--data", required=True, action="append", help="AgentTraj file; repeat for several")
    parser.add_argument(
        "--lora",
        action="store_true",
        help="train a LoRA adapter (needs peft: the smollm extra) instead of every weight",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    (config, model_config), args = parse_configs(parser, argv)
    if not config.save_dir:
        raise CommandError("--out is required (where the trained policy goes)")
    from agentgym_rl.bc import train_bc
    from agentgym_rl.models import load_model
    from agentgym_rl.trajectory import load_trajectories

    records = [record for path in args.data for record in _checked(load_trajectories, path)]
    extra = {"lora": args.lora, **model_config.load_kwargs()}
    policy = _checked(lambda name: load_model(name, seed=config.seed, **extra), args.model)
    metrics = _checked(lambda records: train_bc(policy, records, config, progress=not args.quiet), records)
    print(
        f"trained {policy.name} on {metrics['examples']} records: {metrics['steps']} steps, "
        f"final loss {metrics['final_loss']:.4f}, {metrics['tokens_per_second']:.0f} tok/s; "
        f"saved to {config.save_dir}"
    )
    return 0


# ------------------------------------------------------------------------------ evolve
# BC settings for `agentgym evolve` on the built-in tiny model; plain `agentgym bc` keeps
# BCConfig's own defaults. Shown by `agentgym evolve --help`.
# Tuned on Maze: the tiny model's action choice stays at chance until a few hundred small steps
# in, then jumps; 20 epochs of 1-2 episodes a step (batch_tokens 1024) at 1e-3 get it there
# (3e-3 or 4096-token batches stall).
EVOLVE_BC_DEFAULTS = {
    "epochs": 20.0,
    "learning_rate": 1e-3,
    "batch_tokens": 1024,
    "lr_schedule": "cosine",
    "bf16": True,
}


@command("evolve", "the main job: expert data -> BC -> AgentEvol iterations, AgentEval after each")
def evolve(argv: list[str]) -> int:
    from agentgym_rl.agentevol import AgentEvolConfig, agentevol
    from agentgym_rl.bc import BCConfig
    from agentgym_rl.models import ModelConfig

    parser = hf_parser_for(
        "evolve",
        (AgentEvolConfig, BCConfig, ModelConfig),
        "AgentEvol (AgentGym's method): build AgentTraj with the env experts, train BC-base, then "
        "for M iterations explore the instruction set with the current model, weight the "
        "trajectories by reward, merge them with AgentTraj and retrain; AgentEval after every "
        "stage. With no flags: the tiny built-in model on Maze. Rerun the same command to resume.",
    )
    parser.set_defaults(**EVOLVE_BC_DEFAULTS)
    for action in parser._actions:  # each stage saves into the run folder, not a save_dir
        if action.dest == "save_dir":
            action.help = argparse.SUPPRESS
    (config, bc_config, model_config), _ = parse_configs(parser, argv)
    if bc_config.save_dir:
        raise CommandError("--save_dir is for 'agentgym bc'; evolve saves every stage under --run_dir")
    from agentgym_rl.agentevol import write_summary  # noqa: F401  (import errors surface before work)

    started = time.perf_counter()
    results = _checked(lambda c: agentevol(c, bc_config, model_config), config)
    from agentgym_rl.agentevol import summary_table

    print("\nAgentEval (test split): success % [95% Wilson interval] / mean score\n")
    print(summary_table(results, config.run_dir))
    print(
        f"\nrun folder: {config.run_dir} (summary.md, metrics.jsonl, success.png); "
        f"wall time {(time.perf_counter() - started) / 60:.1f} min"
    )
    return 0


# ------------------------------------------------------------------------------ eval
@command("eval", "AgentEval: a model's greedy success rate and score on the test split")
def eval_model(argv: list[str]) -> int:
    from agentgym_rl.evaluate import EvalConfig
    from agentgym_rl.models import ModelConfig

    parser = hf_parser_for(
        "eval",
        (EvalConfig, ModelConfig),
        "AgentEval: play each env's test split (or --task_ids) greedily and report success rate (95% "
        "Wilson interval) and mean score (95% normal interval) per env, as a markdown table and JSON.",
    )
    (config, model_config), _ = parse_configs(parser, argv)
    from pathlib import Path

    from agentgym_envs.data import atomic_write_text, save_trajectories
    from agentgym_rl.evaluate import evaluate, results_table, save_results
    from agentgym_rl.models import load_model
    from agentgym_rl.rollout import RolloutConfig

    policy = _checked(lambda name: load_model(name, **model_config.load_kwargs()), config.model)
    rollout_config = RolloutConfig(concurrency=config.concurrency, max_new_tokens=config.max_new_tokens)
    results, records = evaluate(
        policy,
        config.envs,
        split=config.split,
        limit=config.limit,
        task_ids=config.task_ids,
        config=rollout_config,
        progress=not config.quiet,
    )
    table = results_table({config.model: results})
    print(f"AgentEval ({config.split}): success % [95% Wilson interval] / mean score\n\n{table}")
    if config.out:
        path = save_results(results, config.out)
        atomic_write_text(Path(path).with_suffix(".md"), table + "\n")
        save_trajectories(records, Path(path).with_suffix(".episodes.jsonl"))
        print(f"wrote {path} (and .md, .episodes.jsonl beside it)")
    return 0


def parse_configs(parser, argv: list[str]):
    """(tuple of config dataclasses, namespace of the other flags) for a multi-config parser."""
    import dataclasses

    try:
        *outputs, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except ValueError as err:
        raise CommandError(str(err)) from None
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    # HfArgumentParser appends a namespace only when the parser has flags outside the dataclasses.
    configs = [output for output in outputs if dataclasses.is_dataclass(output)]
    rest = [output for output in outputs if not dataclasses.is_dataclass(output)]
    return configs, (rest[0] if rest else argparse.Namespace())


def hf_parser_for(name: str, config_class, description: str):
    """``transformers.HfArgumentParser`` over a TRL-style config dataclass, with one-line errors."""
    from transformers import HfArgumentParser

    class OneLineHfParser(HfArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise CommandError(f"{message} (see '{self.prog} --help')")

    return OneLineHfParser(
        config_class,
        prog=f"agentgym {name}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


# ------------------------------------------------------------------------------ helpers
def _env_id(name: str, resolve: Callable[[str], str]) -> str:
    return _checked(resolve, name)


def _checked(func: Callable, value):
    try:
        return func(value)
    except ValueError as err:
        raise CommandError(str(err)) from None


# Third-party modules the commands import, and the extra that installs each.
MODULE_EXTRAS = {
    "torch": "rl",
    "transformers": "rl",
    "tokenizers": "rl",
    "matplotlib": "rl",
    "peft": "smollm",
    "gguf": "smollm",
    "accelerate": "bench",
}


def with_install_hint(error: Exception) -> str:
    """An import error's message, plus the pip command when we know which extra fixes it."""
    module = (getattr(error, "name", None) or "").split(".")[0]
    if module in MODULE_EXTRAS and "pip install" not in str(error):
        return f"{error}: pip install 'agentgym[{MODULE_EXTRAS[module]}]'"
    return str(error)


def _usage() -> str:
    lines = ["usage: agentgym <command> [flags]   (agentgym <command> --help for its flags)", "", "commands:"]
    lines += [f"  {name:<9} {summary}" for name, (summary, _) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"agentgym: unknown command {name!r}; choose from: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[name][1](rest)
    except CommandError as err:
        print(f"agentgym {name}: error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ImportError) as err:
        print(f"agentgym {name}: error: {with_install_hint(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"agentgym {name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `agentgym list | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
