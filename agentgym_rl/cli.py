"""The ``agentgym`` command line: each command parses its flags and calls the library.

Flags come from config dataclasses through ``transformers.HfArgumentParser`` (TRL style), so
every command spells them the same way: ``--task_ids``, ``--learning_rate`` (the parser also
accepts ``--learning-rate``). ``agentgym <command> --help`` lists a command's flags, and heavy
imports (torch, transformers) happen only in the commands that need them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

COMMANDS: dict[str, tuple[str, Callable[[list[str]], int]]] = {}


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def command(name: str, summary: str):
    """Register ``func(argv) -> exit status`` as ``agentgym <name>``."""

    def decorate(func: Callable[[list[str]], int]) -> Callable[[list[str]], int]:
        COMMANDS[name] = (summary, func)
        return func

    return decorate


# ------------------------------------------------------------------------------ list
@command("list", "list the registered AgentGym envs, their splits and whether their engine is installed")
def list_envs(argv: list[str]) -> int:
    parser = plain_parser("list", "List every AgentGym/* env with AgentGym's split sizes.")
    parser.add_argument("--markdown", action="store_true", help="print README's env table (markdown)")
    args = parser.parse_args(argv)
    from agentgym_envs import FAMILIES
    from agentgym_envs.registration import env_table_markdown

    if args.markdown:
        print(env_table_markdown())
        return 0
    columns = ("max rounds", "test", "agenttraj", "agenttraj_l", "train")
    width = max(len(fam.env_id) for fam in FAMILIES.values())
    header = (
        f"{'env id':<{width}} " + " ".join(f"{name:>{max(6, len(name))}}" for name in columns) + "  status"
    )
    print(header)
    print("-" * len(header))
    for fam in FAMILIES.values():
        values = [fam.max_rounds] + [len(fam.splits.ids(split)) for split in columns[1:]]
        problem = fam.missing_engine()
        cells = " ".join(f"{value:>{max(6, len(name))}}" for name, value in zip(columns, values))
        print(f"{fam.env_id:<{width}} {cells}  {f'missing: {problem}' if problem else 'ready'}")
    return 0


# ------------------------------------------------------------------------------ play
@command("play", "play an env yourself in the terminal")
def play(argv: list[str]) -> int:
    parser = plain_parser(
        "play",
        "Play an AgentGym env in the terminal. Type an action at the prompt; ':hint' shows the "
        "expert's next move, ':actions' the allowed actions, ':instruction' the task prompt, "
        "':quit' leaves.",
    )
    parser.add_argument("env", help="env name or id, e.g. maze or AgentGym/BabyAI-v0")
    parser.add_argument(  # and --task-id, as HfArgumentParser accepts for the other commands
        "--task_id", "--task-id", type=int, default=None, help="task to play (default: drawn by --seed)"
    )
    parser.add_argument("--split", default="test", help="split a seeded task is drawn from")
    parser.add_argument("--seed", type=int, default=0, help="seed for drawing a task")
    args = parser.parse_args(argv)
    import gymnasium as gym

    from agentgym_envs import resolve_env_id

    env = gym.make(checked(resolve_env_id, args.env), split=args.split)
    options = {"task_id": args.task_id} if args.task_id is not None else None
    observation, info = env.reset(seed=args.seed, options=options)
    print(f"== {info['item_id']} ==\n{info['instruction']}\n\n{observation}")
    while True:
        try:
            action = input("> ").strip()
        except EOFError:
            break
        if action == ":quit":
            break
        if action in (":hint", ":actions", ":instruction"):
            print(play_meta(env, info, action))
            continue
        observation, _, terminated, truncated, info = env.step(action)
        print(observation)
        if terminated or truncated:
            ending = "success" if info["success"] else ("out of rounds" if truncated else "ended")
            print(f"== episode over ({ending}): score {info['score']:.2f} ==")
            break
    env.close()
    return 0


def play_meta(env, info: dict, request: str) -> str:
    if request == ":instruction":
        return info["instruction"]
    if request == ":actions":
        actions = env.unwrapped.available_actions()  # asked for: some envs leave it out of info
        return "\n".join(actions) if actions else "(this env has no finite action list)"
    thought, action = env.unwrapped.expert()
    return f"expert: {action}   ({thought})"


# ------------------------------------------------------------------------------ data
@command(
    "data",
    "expert AgentTraj data, the AgentEval list, or `data export` to TRL / ShareGPT",
)
def data(argv: list[str]) -> int:
    if argv[:1] == ["export"]:
        return data_export(argv[1:])
    parser = plain_parser(
        "data",
        "Write AgentGym-format data: expert trajectories for a training split (agenttraj = "
        "AgentTraj / BC-base, agenttraj_l = AgentTraj-L / BC-large, train = the full "
        "instruction set), or the AgentEval item list for --split eval.",
    )
    parser.add_argument("--envs", required=True, nargs="+", help="env names or ids")
    parser.add_argument("--split", default="agenttraj", help="agenttraj | agenttraj_l | train | eval")
    parser.add_argument("--out", required=True, help="output file: .json (AgentGym's layout) or .jsonl")
    parser.add_argument("--limit", type=int, default=None, help="at most this many tasks per env")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from agentgym_envs import require_engine
    from agentgym_envs.data import eval_items, expert_trajectories, save_trajectories
    from agentgym_envs.splits import normalise_split

    env_ids = [checked(require_engine, name) for name in args.envs]
    split = checked(normalise_split, args.split)
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


def data_export(argv: list[str]) -> int:
    from agentgym_envs.export import FORMATS, export_file

    parser = plain_parser(
        "data export",
        "Convert AgentTraj JSON/JSONL to TRL's chat messages (assistant turns carry weight 1 where "
        "AgentTraj trains on them), ShareGPT, or AgentTraj itself. A .jsonl OUT gets one record a line.",
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    parser.add_argument("source", help="AgentTraj file (.json or .jsonl)")
    parser.add_argument("target", help="output file (.json or .jsonl)")
    args = parser.parse_args(argv)
    path = checked(export_file, args.source, args.target, args.format)
    print(f"wrote {path}")
    return 0


@dataclass
class BCDataConfig:
    """``agentgym bc``'s data flags (the rest are BCConfig's and ModelConfig's)."""

    data: list[str] = field(metadata={"help": "AgentTraj JSON/JSONL files"})
    quiet: bool = field(default=False, metadata={"help": "no progress bar"})


# ------------------------------------------------------------------------------ bc
@command("bc", "behavioural cloning of a model on AgentTraj data")
def bc(argv: list[str]) -> int:
    from agentgym_rl.bc import BCConfig, train_bc
    from agentgym_rl.models import ModelConfig
    from agentgym_rl.trackers import Tracker
    from agentgym_rl.trajectory import load_trajectories

    description = (
        "Behavioural cloning: train a model on AgentTraj JSON/JSONL (only gpt turns with loss "
        "true are learned) and save it with metrics.json to --out."
    )
    files, config, model_config = parse("bc", description, [BCDataConfig, BCConfig, ModelConfig], argv)
    if not config.save_dir:
        raise CommandError("--out is required (where the trained policy goes)")
    records = [record for path in files.data for record in checked(load_trajectories, path)]
    policy = checked(model_config.load, config.seed)
    tracker = Tracker.in_folder(config.save_dir, config.report_to)
    try:
        metrics = checked(train_bc, policy, records, config, progress=not files.quiet, tracker=tracker)
    finally:
        tracker.close()
    print(
        f"trained {policy.name} on {metrics['examples']} records: {metrics['steps']} steps, "
        f"final loss {metrics['final_loss']:.4f}, {metrics['tokens_per_second']:.0f} tok/s; "
        f"saved to {config.save_dir}"
    )
    return 0


# ------------------------------------------------------------------------------ evolve
@command("evolve", "the main job: expert data -> BC -> AgentEvol iterations, AgentEval after each")
def evolve(argv: list[str]) -> int:
    from agentgym_rl.agentevol import AgentEvolConfig, EvolveBCConfig, agentevol, summary_table
    from agentgym_rl.models import ModelConfig

    description = (
        "AgentEvol (AgentGym's method): build AgentTraj with the env experts, train BC-base, then "
        "for M iterations explore the instruction set with the current model, weight the "
        "trajectories by reward, merge them with AgentTraj and retrain; AgentEval after every "
        "stage. With no flags: the tiny built-in model on Maze. Rerun the same command to resume."
    )
    configs = parse("evolve", description, [AgentEvolConfig, EvolveBCConfig, ModelConfig], argv)
    started = time.perf_counter()
    results = checked(agentevol, *configs)
    print("\nAgentEval (test split): success % [95% Wilson interval] / mean score\n")
    print(summary_table(results, configs[0].run_dir))
    print(
        f"\nrun folder: {configs[0].run_dir} (summary.md, metrics.jsonl, success.png); "
        f"wall time {(time.perf_counter() - started) / 60:.1f} min"
    )
    return 0


# ------------------------------------------------------------------------------ grpo
@command("grpo", "online RL: GRPO or RLOO over whole episodes, AgentEval at the start and the end")
def grpo(argv: list[str]) -> int:
    from agentgym_rl.evaluate import results_table
    from agentgym_rl.grpo import GRPOConfig, grpo
    from agentgym_rl.models import ModelConfig

    description = (
        "GRPO / RLOO over whole episodes: each step plays G episodes of each of B tasks of the "
        "instruction set, weights every agent-turn token by its episode's group-relative advantage "
        "and updates the model; AgentEval on the test split at the start, every --eval_every steps "
        "and at the end. Starts from --model when it is a checkpoint folder, else from BC on "
        "AgentTraj as agentgym evolve trains it. With no flags: the tiny built-in model on Maze. "
        "Rerun the same command to resume."
    )
    config, model_config = parse("grpo", description, [GRPOConfig, ModelConfig], argv)
    started = time.perf_counter()
    results = checked(grpo, config, model_config)
    first, last = next(iter(results)), list(results)[-1]
    print("\nAgentEval (test split): success % [95% Wilson interval] / mean score\n")
    print(results_table({f"start ({first})": results[first], f"end ({last})": results[last]}))
    print(
        f"\nrun folder: {config.run_dir} (summary.md, metrics.jsonl, tensorboard/); "
        f"wall time {(time.perf_counter() - started) / 60:.1f} min"
    )
    return 0


# ------------------------------------------------------------------------------ eval
@command("eval", "AgentEval: a model's (or an API model's) greedy success rate and score on the test split")
def eval_model(argv: list[str]) -> int:
    from agentgym_rl.evaluate import (
        EvalConfig,
        detail_tables,
        episodes_path,
        evaluate,
        results_table,
        save_eval,
    )
    from agentgym_rl.models import ModelConfig
    from agentgym_rl.rollout import RolloutStats

    description = (
        "AgentEval: play each env's test split (or --task_ids) greedily and report success rate (95% "
        "Wilson interval) and mean score (95% normal interval) per env, as a markdown table and JSON. "
        "With --api_base the model is any OpenAI-compatible chat endpoint (key from $OPENAI_API_KEY "
        "or --api_key_env); with --out an interrupted run resumes where it stopped."
    )
    config, model_config = parse("eval", description, [EvalConfig, ModelConfig], argv)
    policy = api_policy(config, model_config.model) if config.api_base else checked(model_config.load)
    stats = RolloutStats()
    try:
        results, records = evaluate(
            policy,
            config.envs,
            split=config.split,
            limit=config.limit,
            task_ids=config.task_ids,
            config=config.rollout.for_rollout(greedy=True),
            progress=not config.quiet,
            stats=stats,
            episodes_file=episodes_path(config.out) if config.out else None,
            pass_k=config.pass_k,
            pass_temperature=config.pass_temperature,
        )
    finally:
        if config.api_base:
            policy.close()
    table = results_table({model_config.model: results})
    print(f"AgentEval ({config.split}): success % [95% Wilson interval] / mean score\n\n{table}\n")
    if details := detail_tables(results):
        print(f"{details}\n")
    print(
        f"{stats.episodes} episodes played now, {stats.tokens_per_second:.0f} generated tok/s, "
        f"{stats.episodes_per_minute:.0f} episodes/min"
    )
    usage = policy.usage.as_dict() if config.api_base else None
    if usage is not None:
        errors = sum("error" in record for record in records)
        print(f"API: {usage} ({errors} episodes ended on a request that kept failing; see the episodes)")
    if config.out:
        path = save_eval(results, records, config.out, label=model_config.model, usage=usage)
        print(f"wrote {path} (and .md, .episodes.jsonl beside it)")
    return 0


def api_policy(config, model: str):
    from agentgym_rl.api_policy import APIPolicy

    return APIPolicy(
        config.api_base,
        model,
        api_key_env=config.api_key_env,
        concurrency=config.api_concurrency,
        max_retries=config.api_max_retries,
        timeout=config.api_timeout,
        backoff=config.api_backoff,
    )


# ------------------------------------------------------------------------------ serve
@command("serve", "serve envs over HTTP: AgentGym's protocol (or --openenv's) per family and a /v1 API")
def serve(argv: list[str]) -> int:
    from agentgym_envs.server.app import main as serve_main

    return serve_main(argv)


# ------------------------------------------------------------------------------ view
@command("view", "a local web page over a run folder or an episodes file: tables, curves, every episode")
def view(argv: list[str]) -> int:
    parser = plain_parser(
        "view",
        "Show a run folder (of agentgym evolve, grpo or eval --out) or one episodes file (.jsonl, or "
        "a .json list of AgentTraj records) as a web page on 127.0.0.1: the AgentEval table and "
        "curves per stage, every episode step by step (filter by env, stage, task and success), "
        "two stages side by side on one task, and the env's picture (Maze and BabyAI replayed, "
        "TextCraft's recipe tree, browser screenshots). Files are read lazily, so a run of 100k "
        "episodes stays quick. Ctrl-C stops the server.",
    )
    parser.add_argument("path", help="run folder (e.g. runs/evolve-maze) or episodes file")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument(
        "--no_browser", "--no-browser", action="store_true", help="print the address only; open no browser"
    )
    args = parser.parse_args(argv)
    from agentgym_rl.viewer import serve as serve_viewer

    return checked(serve_viewer, args.path, port=args.port, open_browser=not args.no_browser)


# ------------------------------------------------------------------------------ parsing
class OneLineErrorParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (plus where to get help), not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CommandError(f"{message} (see '{self.prog} --help')")


def plain_parser(name: str, description: str) -> OneLineErrorParser:
    """The parser of a command that runs on the core install (no transformers): list, play, data."""
    return OneLineErrorParser(
        prog=f"agentgym {name}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def parse(name: str, description: str, configs: list[type], argv: list[str]) -> list:
    """The config dataclasses of ``agentgym <name>`` filled from ``argv`` by HfArgumentParser.

    A config may hold another config (``AgentEvolConfig.rollout``): the held config's fields are
    flags too, unprefixed (``--concurrency``, not ``--rollout.concurrency``), listed in ``--help``
    under a heading of their own, except those the holder's field names in its ``not_flags``
    metadata (settings the holder decides itself, e.g. AgentEval's greedy decoding)."""
    from transformers import HfArgumentParser

    class OneLineHfParser(HfArgumentParser):
        def error(self, message: str) -> None:  # type: ignore[override]
            raise CommandError(f"{message} (see '{self.prog} --help')")

    layouts = [flag_classes(config) for config in configs]
    parser = OneLineHfParser(
        [part for layout in layouts for part in layout],
        prog=f"agentgym {name}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    try:
        *parts, unknown = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except ValueError as err:  # a config's __post_init__ refused a value
        raise CommandError(str(err)) from None
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    outputs, parts = [], iter(parts)
    for config, layout in zip(configs, layouts):
        outputs.append(checked(assemble, config, [next(parts) for _ in layout]))
    return outputs


def held_configs(config: type) -> dict[str, tuple[type, dataclasses.Field]]:
    """``config``'s fields that hold a config: name -> (the held config's class, the field)."""
    hints = typing.get_type_hints(config)
    return {
        item.name: (hints[item.name], item)
        for item in dataclasses.fields(config)
        if dataclasses.is_dataclass(hints[item.name])
    }


def flag_classes(config: type) -> list[type]:
    """The dataclasses HfArgumentParser makes ``config``'s flags from: ``config`` itself, or, when
    it holds configs, its own fields and then each held config's flag fields under a heading."""
    held = held_configs(config)
    if not held:
        return [config]
    # NOT_FLAGS: inherited settings the config decides itself (GRPO has no save_dir of its own).
    classes = [flag_class(config, leave_out=(*held, *getattr(config, "NOT_FLAGS", ())))]
    for held_class, item in held.values():
        not_flags = tuple(item.metadata.get("not_flags", ()))
        classes.append(flag_class(held_class, not_flags, group=item.metadata.get("help", item.name)))
    return classes


def flag_class(config: type, leave_out: tuple[str, ...], group: str | None = None) -> type:
    """A dataclass with ``config``'s fields (defaults, help) but those in ``leave_out``."""
    hints = typing.get_type_hints(config)
    specs = [
        (item.name, hints[item.name], copied_field(item))
        for item in dataclasses.fields(config)
        if item.init and item.name not in leave_out
    ]
    namespace = {} if group is None else {"_argument_group_name": group}
    return dataclasses.make_dataclass(f"{config.__name__}Flags", specs, namespace=namespace)


def copied_field(item: dataclasses.Field) -> dataclasses.Field:
    return dataclasses.field(
        default=item.default, default_factory=item.default_factory, metadata=item.metadata
    )


def assemble(config: type, parts: list):
    """``config`` built from what the parser filled in: its own flags, then each held config's."""
    own, *held_parts = parts
    if type(own) is config:  # it holds no config: the parser built it
        return own
    values = field_values(own)
    for (name, (held_class, _)), part in zip(held_configs(config).items(), held_parts):
        values[name] = held_class(**field_values(part))
    return config(**values)


def field_values(instance) -> dict:
    """A dataclass instance's fields by name, not copied (``dataclasses.asdict`` copies deep)."""
    return {item.name: getattr(instance, item.name) for item in dataclasses.fields(instance)}


def checked(func: Callable, *args, **kwargs):
    """``func(*args, **kwargs)``, with a ValueError (a bad value) as a one-line command error."""
    try:
        return func(*args, **kwargs)
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
    from agentgym_envs import install_hint

    module = (getattr(error, "name", None) or "").split(".")[0]
    if module in MODULE_EXTRAS and "pip install" not in str(error):
        return f"{error}: {install_hint(MODULE_EXTRAS[module])}"
    return str(error)


def usage() -> str:
    lines = ["usage: agentgym <command> [flags]   (agentgym <command> --help for its flags)", "", "commands:"]
    lines += [f"  {name:<9} {summary}" for name, (summary, _) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
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
