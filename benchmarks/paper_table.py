"""The paper's main table: base, BC-base, BC-large and AgentEvol per env, beside AgentGym's numbers.

AgentGym (arXiv 2406.04151) compares, per env, on AgentEval (the test split, greedy):

  base        the model as it is, zero-shot (here: the model before any training, or an
              OpenAI-compatible endpoint with --base_endpoint)
  BC-base     behavioural cloning on AgentTraj
  BC-large    behavioural cloning on AgentTraj-L (the larger expert set)
  AgentEvol   BC-base, then M = 4 iterations of exploring the instruction set (K = 1 sample per
              instruction), keeping the successes, merging them with AgentTraj and retraining
  GRPO        (--grpo, not in the paper) `agentgym grpo` from the same BC-base, and again with
              the horizon curriculum (round limits of 1/3, 2/3 and all of the env's)

Each cell is success % (mean score x 100 for BabyAI and SciWorld, as the paper reports them) with
its 95% interval: Wilson for success, normal for a mean score. Below each of our rows is the
paper's (Llama-2-Chat-7B), and GPT-4-Turbo's at the bottom: PAPER_RESULTS, from the paper's main
table as REFERENCE.md quotes it.

Nothing here trains or plays by itself: every row is one `agentgym evolve`, `agentgym grpo` or
AgentEval run, in its own folder under --out, and BC-base and AgentEvol are the first and last
stages of the same AgentEvol run (BC-base is trained once, and GRPO starts from it):

  OUT/<env>/base/        AgentEval of the untrained model (config.json, metrics.jsonl, eval/base.json)
  OUT/<env>/agentevol/   agentgym evolve's run folder: stage bc-base is BC-base, iter4 is AgentEvol
  OUT/<env>/bc-large/    agentgym evolve's run folder on AgentTraj-L, M = 0
  OUT/<env>/grpo/, grpo-curric/   agentgym grpo's run folders, started from agentevol's bc-base
  OUT/table.md, table.json, table.png

Resumable per env and stage: rerun the same command and every finished stage is read back,
a killed stage continues (exploration and AgentEval keep each episode as it ends, and BC
checkpoints every --save_every steps). An env that cannot be trained (its first prompt is
longer than the model's context) is reported in the table and the run goes on to the next.

One model per env: the paper trains one model on every env at once. The settings each env trains
with are TINY_SETTINGS for the built-in tiny model (--settings tiny, the default for the tiny
presets) and PAPER_SETTINGS for a pretrained model (--settings paper, the default otherwise).

Usage:
  python benchmarks/paper_table.py --envs maze                       # the tiny model on Maze
  python benchmarks/paper_table.py --envs maze --quick --out /tmp/pt # a minute: checks the pipeline
  python benchmarks/paper_table.py --model meta-llama/Llama-2-7b-chat-hf --device cuda   # a GPU's
  python benchmarks/paper_table.py --rows base --base_endpoint http://127.0.0.1:8000/v1 --base_model NAME
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import cpu_name, machine

from agentgym_envs import FAMILIES, family, require_engine, short_name
from agentgym_envs.data import atomic_write_text, expert_trajectories, load_trajectories
from agentgym_rl.agentevol import (
    AgentEvolConfig,
    EvolveBCConfig,
    EvolveRolloutConfig,
    agentevol,
    open_run,
    plot_success,
    reply_budget,
    shorten_thoughts,
    stage_names,
)
from agentgym_rl.evaluate import EnvResult, evaluate, load_results, save_eval
from agentgym_rl.grpo import GRPOConfig, GRPORolloutConfig, grpo, open_grpo_run
from agentgym_rl.models import TINY_CONTEXT, TINY_SIZES, ModelConfig
from agentgym_rl.policy import configure_threads
from agentgym_rl.rollout import RolloutStats
from agentgym_rl.rollout_config import RolloutConfig
from agentgym_rl.run_dir import RunDir

# ------------------------------------------------------------------------------ the paper's numbers
# AgentGym (arXiv 2406.04151), main results table, as quoted in REFERENCE.md ("Headline results"):
# success %, except BabyAI and SciWorld, mean score x 100. The BC and AgentEvol rows fine-tune
# Llama-2-Chat-7B. REFERENCE.md does not quote the zero-shot Llama-2-Chat-7B row, so the base row's
# paper cells stay empty rather than be filled from memory.
PAPER_ENVS = (
    "WebShop", "ALFWorld", "TextCraft", "SciWorld", "BabyAI", "Maze", "Wordle", "Weather", "Movie",
    "TODOList", "BIRD",
)  # fmt: skip
PAPER_RESULTS: dict[str, tuple[float, ...] | None] = {
    "base": None,
    "bc-base": (66.5, 77.5, 44.0, 26.42, 69.31, 12.0, 12.0, 25.0, 5.0, 45.0, 8.0),
    "bc-large": (73.5, 83.0, 60.0, 74.47, 74.19, 12.0, 36.0, 45.0, 5.0, 65.0, 8.5),
    "agentevol": (76.5, 88.0, 64.0, 38.0, 82.7, 12.0, 12.0, 25.0, 60.0, 70.0, 9.0),
    "gpt-4-turbo": (15.5, 67.5, 77.0, 14.38, 72.83, 68.0, 88.0, 80.0, 95.0, 95.0, 16.0),
}
SCORE_ENVS = ("BabyAI", "SciWorld")  # the paper reports their mean score, the rest success


def paper_value(row: str, env: str) -> float | None:
    values = PAPER_RESULTS.get(row)
    return values[PAPER_ENVS.index(env)] if values is not None and env in PAPER_ENVS else None


# ------------------------------------------------------------------------------ per-env settings
@dataclass(frozen=True)
class EnvSettings:
    """What one env's BC-base, BC-large and AgentEvol train with; ``why`` says where it comes from."""

    epochs: float  # BC epochs of BC-base and BC-large
    learning_rate: float  # peak AdamW learning rate of BC (the iterations: agentgym evolve's scale of it)
    max_length: int  # longest tokenised episode in training; longer ones are cut at a turn boundary
    max_rounds: int | None  # rounds an episode may take; None: the env's own, which is the paper's
    why: str


# The paper: Llama-2-Chat-7B fine-tuned at lr 1e-5 for one epoch on 4,096-token inputs (AgentGym's
# released BC script: n_epochs 1, max_input_length 4096), each env at its own round limit.
PAPER_SETTINGS = EnvSettings(1, 1e-5, 4096, None, "the paper's (AgentGym's released BC script)")

# The built-in 1.4M-parameter tiny model trains from scratch, so it needs far more epochs at a far
# higher learning rate than the paper's; its context is 2,048 tokens. Only Maze's values were tuned
# (agentgym evolve's defaults: docs/agentevol.md, "Defaults, and where they differ from the paper");
# the rest say where their values come from. "prompt" is the instruction and first observation
# under the tiny tokenizer and "cut" the share of AgentTraj episodes longer than 2,048 tokens
# (trained on up to a turn boundary), both measured on AgentTraj.
UNTUNED = "untuned: the Maze defaults"
# fmt: off
TINY_SETTINGS: dict[str, EnvSettings] = {
    # env:       EnvSettings(epochs, lr, max length, rounds (None: the env's), why)
    "WebShop":   EnvSettings(20, 1e-3, TINY_CONTEXT, None, f"{UNTUNED}; prompt ~360 tokens, 60% cut"),
    "ALFWorld":  EnvSettings(20, 1e-3, TINY_CONTEXT, None, f"{UNTUNED}; prompt ~660 tokens"),
    "TextCraft": EnvSettings(55, 1e-3, TINY_CONTEXT, None, "measured: BC-base's validation success "
                             "stopped rising at epoch 55 (benchmarks/rl_study.py); prompt ~420 tokens"),
    "SciWorld":  EnvSettings(20, 1e-3, TINY_CONTEXT, None, f"{UNTUNED}; prompt ~690 tokens"),
    "BabyAI":    EnvSettings(20, 1e-3, TINY_CONTEXT, None, f"{UNTUNED}; prompt ~430 tokens, 15% cut"),
    "Maze":      EnvSettings(20, 1e-3, TINY_CONTEXT, None, "tuned on Maze: agentgym evolve's defaults"),
    "Wordle":    EnvSettings(20, 1e-3, TINY_CONTEXT, None, f"{UNTUNED}; prompt 448 tokens"),
    "Weather":   EnvSettings(20, 1e-3, TINY_CONTEXT, None, "cannot fit: its prompt (~2,750 tokens) is "
                             "longer than the tiny model's 2,048-token context"),
    "Movie":     EnvSettings(20, 1e-3, TINY_CONTEXT, None, f"{UNTUNED}; prompt ~1,550 tokens, 45% cut"),
    "TODOList":  EnvSettings(20, 1e-3, TINY_CONTEXT, None, f"{UNTUNED}; prompt ~1,030 tokens, 40% cut"),
    "BIRD":      EnvSettings(20, 1e-3, TINY_CONTEXT, None, f"{UNTUNED}; prompt ~600 tokens"),
}
# fmt: on


def env_settings(args: argparse.Namespace, env: str) -> EnvSettings:
    """The env's row of the chosen table, with the command's overrides."""
    default = dataclasses.replace(TINY_SETTINGS["Maze"], why=UNTUNED)  # an env beyond the paper's
    chosen = PAPER_SETTINGS if args.settings == "paper" else TINY_SETTINGS.get(short_name(env), default)
    overrides = {name: getattr(args, name) for name in ("epochs", "learning_rate") if getattr(args, name)}
    if args.quick:
        overrides.update(epochs=0.05, max_rounds=4)
    return dataclasses.replace(chosen, **overrides)


def rate(value: float) -> str:
    return f"{value:.0e}".replace("e-0", "e-")  # 1e-3, as the docs write it


def settings_table() -> str:
    """TINY_SETTINGS as markdown, each value beside the paper's."""
    paper = PAPER_SETTINGS
    lines = [
        f"| env | BC epochs (paper {paper.epochs:g}) | learning rate (paper {rate(paper.learning_rate)}) "
        f"| max length (paper {paper.max_length}) | rounds (paper: the env's) | why |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, s in TINY_SETTINGS.items():
        rounds = s.max_rounds or family(name).max_rounds
        lines.append(
            f"| {name} | {s.epochs:g} | {rate(s.learning_rate)} | {s.max_length} | {rounds} | {s.why} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the command line
ROWS = ("base", "agentevol", "bc-large")
GRPO_ROWS = ("grpo", "grpo-curric")
LABELS = {
    "base": "base (zero-shot)",
    "bc-base": "BC-base",
    "bc-large": "BC-large",
    "agentevol": "AgentEvol",
    "grpo": "GRPO",
    "grpo-curric": "GRPO + curriculum",
}


class OneLineErrors(argparse.ArgumentParser):
    """A bad flag is one line on stderr (and exit status 2), not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"paper_table: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineErrors(
        description=__doc__,
        epilog="TINY_SETTINGS (--settings tiny), each beside the paper's:\n\n" + settings_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--envs", nargs="+", default=None, help="envs (default: the paper's 11 with AgentTraj, in its order)")
    add("--out", default="runs/paper-table", help="folder of every run and the table (rerun to resume)")
    add(
        "--rows",
        nargs="+",
        default=list(ROWS),
        choices=ROWS,
        help="runs: base, agentevol (its BC-base and AgentEvol rows), bc-large (default: all three)",
    )
    add("--grpo", action="store_true", help="add the GRPO rows (plain and curriculum), from BC-base")
    add("--model", default="tiny", help="preset, checkpoint folder or Hugging Face id in the local cache")
    add("--lora", action="store_true", help="train a LoRA adapter instead of every weight (a big model)")
    add("--lora_rank", type=int, default=16, help="LoRA rank with --lora")
    add("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add("--dtype", default="auto", help="auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16, float16")
    add(
        "--settings",
        choices=("tiny", "paper"),
        default=None,
        help="per-env settings: tiny (TINY_SETTINGS below) or paper (lr 1e-5, 1 epoch, 4,096 tokens, "
        "each iteration retrains the base model, exploration at T = 1.2, expert thoughts kept); "
        "default: tiny for the tiny presets, paper for any other model",
    )
    add("--epochs", type=float, default=0, help="BC epochs for every env (0: the settings table's)")
    add("--learning_rate", type=float, default=0, help="BC learning rate for every env (0: the table's)")
    add("--iterations", type=int, default=4, help="M: AgentEvol's iterations (the paper: 4)")
    add("--samples", type=int, default=1, help="K: samples per instruction (the paper: 1)")
    add("--grpo_steps", type=int, default=20, help="GRPO steps (agentgym grpo's default)")
    add("--grpo_lr", type=float, default=5e-4, help="GRPO learning rate (5e-4 suits the tiny model only)")
    add("--base_endpoint", default=None, help="play the base row with an OpenAI-compatible API at this URL")
    add("--base_model", default=None, help="the API's model name (default: --model)")
    add("--api_key_env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    add("--base_max_new_tokens", type=int, default=512, help="reply budget of the API model's turns")
    add("--concurrency", type=int, default=256, help="episodes played at once (lower it for big models)")
    add("--save_every", type=int, default=500, help="BC checkpoints every N steps, so a killed stage resumes")
    add("--seed", type=int, default=0, help="seed of the model build, batches and sampling")
    add("--progress", action="store_true", help="progress bars (off: a log line per stage)")
    add(
        "--quick", action="store_true", help="tiny sizes: checks the pipeline in about a minute, says nothing"
    )
    args = parser.parse_args(argv)
    args.settings = args.settings or ("tiny" if args.model in TINY_SIZES else "paper")
    args.eval_limit = args.explore_limit = 4 if args.quick else None
    if args.quick:
        args.grpo_steps = 1
    for name in ("iterations", "samples", "grpo_steps", "concurrency", "base_max_new_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.epochs < 0 or args.learning_rate < 0:
        parser.error("--epochs and --learning_rate must be positive (or 0: the settings table's)")
    if args.grpo and "agentevol" not in args.rows:
        parser.error("--grpo starts from AgentEvol's BC-base: keep agentevol in --rows")
    try:
        args.envs = [require_engine(env) for env in args.envs or [n for n in PAPER_ENVS if n in FAMILIES]]
        model_config(args)  # a bad --device or --dtype fails here
    except (ValueError, ImportError) as error:
        parser.error(str(error).splitlines()[0])
    trains = set(args.rows) != {"base"}
    untrainable = [short_name(env) for env in args.envs if not family(env).splits.agenttraj and trains]
    if untrainable:
        parser.error(
            f"{', '.join(untrainable)} have no AgentTraj to train on (the paper holds them out of "
            "training): use --rows base for them"
        )
    return args


def say(message: str) -> None:
    print(f"[paper_table {time.strftime('%H:%M:%S')}] {message}", flush=True)


def model_config(args: argparse.Namespace, name: str | None = None) -> ModelConfig:
    return ModelConfig(
        model=name or args.model,
        lora=args.lora,
        lora_rank=args.lora_rank,
        device=args.device,
        dtype=args.dtype,
    )


# ------------------------------------------------------------------------------ the rows
def base_row(args: argparse.Namespace, env: str, folder: Path, expert_file: Path) -> dict[str, EnvResult]:
    """AgentEval of the model before training (or of the API model), saved as it plays;
    ``expert_file`` is the AgentEvol run's AgentTraj, where it exists."""
    run = RunDir(folder, name="base")
    results_path = run.path("eval", "base.json")
    identity = (
        {"endpoint": args.base_endpoint, "model": args.base_model or args.model}
        if args.base_endpoint
        else model_config(args).identity()
    )
    run.open({"model": identity, "eval": {"limit": args.eval_limit, "seed": args.seed}}, defaults={})
    if results_path.is_file():
        return load_results(results_path)
    if args.base_endpoint:
        from agentgym_rl.api_policy import APIPolicy

        policy = APIPolicy(args.base_endpoint, args.base_model or args.model, api_key_env=args.api_key_env)
        budget = args.base_max_new_tokens
    else:
        policy = model_config(args).load(seed=args.seed, lora=False)
        # The reply budget of every other row (an untrained model writes until it runs out): from
        # the AgentEvol run's AgentTraj, or without that run from 20 expert episodes, as agentgym
        # grpo does for a checkpoint.
        if expert_file.is_file():
            expert = load_trajectories(expert_file)
        else:
            sample, _ = expert_trajectories(env, "agenttraj", limit=20, progress=False)
            expert = shorten_thoughts(sample, thought_words(args))
        budget = reply_budget(policy, expert, 0)
    settings = env_settings(args, env)
    config = RolloutConfig(
        concurrency=args.concurrency, max_new_tokens=budget, max_rounds=settings.max_rounds, seed=args.seed
    )
    stats = RolloutStats()
    try:
        results, records = evaluate(
            policy,
            [env],
            limit=args.eval_limit,
            config=config,
            progress=args.progress,
            stats=stats,
            episodes_file=results_path.with_suffix(".episodes.jsonl"),
        )
    finally:
        if args.base_endpoint:
            policy.close()
    usage = policy.usage.as_dict() if args.base_endpoint else None
    save_eval(results, records, results_path, label="base", usage=usage)
    run.record(
        "eval",
        "base",
        seconds=round(stats.wall_seconds, 1),
        tokens_per_second=round(stats.tokens_per_second, 1),
    )
    return results


def thought_words(args: argparse.Namespace) -> int:
    """Expert thoughts: dropped for the tiny model (agentgym evolve's default), kept whole as the paper."""
    return -1 if args.settings == "paper" else 0


def evolve_configs(
    args: argparse.Namespace, env: str, folder: Path, split: str, iterations: int
) -> tuple[AgentEvolConfig, EvolveBCConfig, ModelConfig]:
    """agentgym evolve's configs for one env: ``split`` is the BC data (agenttraj: BC-base, then
    AgentEvol; agenttraj_l with M = 0: BC-large)."""
    settings = env_settings(args, env)
    evolve_changes: dict[str, Any] = {}
    rollout_changes: dict[str, Any] = {}
    bc_changes: dict[str, Any] = {}
    if args.settings == "paper":
        # The paper retrains the base model each iteration and explores at 1.2; the tiny model
        # continues the last one at 0.85 (agentgym evolve's defaults: docs/agentevol.md says why).
        evolve_changes["retrain_from"] = "base"
        rollout_changes["temperature"] = 1.2
        # The released script's batch: 2 episodes a GPU, 2 accumulation steps, 8 GPUs.
        bc_changes.update(batch_tokens=2 * settings.max_length, gradient_accumulation_steps=16)
    if args.quick:
        evolve_changes["iteration_epochs"] = settings.epochs
    rollout = EvolveRolloutConfig(
        concurrency=args.concurrency, max_rounds=settings.max_rounds, **rollout_changes
    )
    evolve = AgentEvolConfig(
        envs=[env],
        run_dir=str(folder),
        iterations=iterations,
        samples=args.samples,
        bc_split=split,
        thought_words=thought_words(args),
        explore_limit=args.explore_limit,
        eval_limit=args.eval_limit,
        progress=args.progress,
        rollout=rollout,
        **evolve_changes,
    )
    bc = EvolveBCConfig(
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        max_length=settings.max_length,
        seed=args.seed,
        save_every=args.save_every,
        report_to=["none"],
        **bc_changes,
    )
    return evolve, bc, model_config(args)


def evolve_row(args: argparse.Namespace, env: str, folder: Path, split: str, iterations: int):
    """The AgentEval results by stage of one agentgym evolve run: read back when every stage has
    been evaluated (after the run folder's settings check), else run or resumed."""
    configs = evolve_configs(args, env, folder, split, iterations)
    stages = stage_names(iterations)
    paths = [folder / "eval" / f"{stage}.json" for stage in stages]
    if all(path.is_file() for path in paths):
        open_run(*configs).tracker.close()  # refuses a folder made with other settings
        return {stage: load_results(path) for stage, path in zip(stages, paths)}
    return agentevol(*configs)


def grpo_row(args: argparse.Namespace, env: str, folder: Path, curriculum: bool) -> dict[str, EnvResult]:
    """agentgym grpo from the AgentEvol run's BC-base; its last AgentEval."""
    schedule = ""
    if curriculum:
        limit = env_settings(args, env).max_rounds or family(env).max_rounds
        schedule = ",".join(str(math.ceil(limit * part / 3)) for part in (1, 2, 3))
    config = GRPOConfig(
        envs=[env],
        run_dir=str(folder),
        steps=args.grpo_steps,
        learning_rate=args.grpo_lr,
        rounds_schedule=schedule,
        rounds_every=max(1, math.ceil(args.grpo_steps / 3)),
        eval_every=args.grpo_steps,  # AgentEval at the start and the end only
        eval_limit=args.eval_limit,
        seed=args.seed,
        report_to=["none"],
        progress=args.progress,
        **({"tasks_per_step": 2, "group_size": 2} if args.quick else {}),
        rollout=GRPORolloutConfig(max_rounds=env_settings(args, env).max_rounds),
    )
    start = model_config(args, name=str(folder.parent / "agentevol" / "checkpoints" / "bc-base"))
    last = folder / "eval" / f"step-{args.grpo_steps}.json"
    if last.is_file():
        open_grpo_run(config, start).tracker.close()  # refuses a folder made with other settings
        return load_results(last)
    return list(grpo(config, start).values())[-1]


# ------------------------------------------------------------------------------ one env
@dataclass
class EnvRows:
    """One env's column: each row's AgentEval result, or why the row could not be trained."""

    env: str
    settings: EnvSettings
    results: dict[str, EnvResult] = dataclasses.field(default_factory=dict)
    problems: dict[str, str] = dataclasses.field(default_factory=dict)


def run_env(args: argparse.Namespace, env: str) -> EnvRows:
    """Every asked-for row of ``env``, each run (or read back) in its own folder."""
    folder = Path(args.out) / short_name(env).lower()
    column = EnvRows(env, env_settings(args, env))

    def attempt(row: str, play) -> None:
        say(f"{short_name(env)}: {LABELS[row]}")
        try:
            column.results[row] = play()
        except ValueError as error:
            if not str(error).startswith("nothing to train on"):
                raise  # a wrong setting, not a fact of the env: the command stops
            column.problems[row] = str(error)
            say(f"{short_name(env)}: {LABELS[row]} cannot be trained: {error}")

    if "agentevol" in args.rows:
        stages: dict[str, dict[str, EnvResult]] = {}

        def agentevol_stages() -> EnvResult:
            stages.update(evolve_row(args, env, folder / "agentevol", "agenttraj", args.iterations))
            return stages[f"iter{args.iterations}"][env]

        attempt("agentevol", agentevol_stages)
        if stages:
            column.results["bc-base"] = stages["bc-base"][env]
        elif "agentevol" in column.problems:
            column.problems["bc-base"] = column.problems["agentevol"]
    if "base" in args.rows:  # after AgentEvol, whose AgentTraj sets its reply budget
        expert_file = folder / "agentevol" / "data" / "agenttraj.json"
        attempt("base", lambda: base_row(args, env, folder / "base", expert_file)[env])
    if "bc-large" in args.rows:
        attempt(
            "bc-large", lambda: evolve_row(args, env, folder / "bc-large", "agenttraj_l", 0)["bc-base"][env]
        )
    if args.grpo and "bc-base" in column.results:
        attempt("grpo", lambda: grpo_row(args, env, folder / "grpo", curriculum=False)[env])
        attempt("grpo-curric", lambda: grpo_row(args, env, folder / "grpo-curric", curriculum=True)[env])
    return column


def minutes_of(args: argparse.Namespace, env: str) -> dict[str, float]:
    """Minutes each row took, summed over every invocation from its run folder's metrics.jsonl
    (training, exploration, AgentEval, expert data): AgentEvol's include its BC-base's."""
    folder = Path(args.out) / short_name(env).lower()

    def seconds(name: str, stage: str | None = None) -> float:
        metrics = RunDir(folder / name).metrics()
        return sum(entry["seconds"] for (_, at), entry in metrics.items() if stage in (None, at))

    minutes = {
        "base": seconds("base"),
        "bc-base": seconds("agentevol", "bc-base"),
        "agentevol": seconds("agentevol"),
        "bc-large": seconds("bc-large"),
        "grpo": seconds("grpo"),
        "grpo-curric": seconds("grpo-curric"),
    }
    total = sum(value for row, value in minutes.items() if row != "bc-base")
    return {row: round(value / 60, 1) for row, value in {**minutes, "total": total}.items()}


# ------------------------------------------------------------------------------ the table
def reported(env: str, result: EnvResult) -> tuple[float, float, float]:
    """The paper's number for ``env`` as (value, low, high) in %: success with its Wilson
    interval, or for BabyAI and SciWorld the mean score with its normal interval."""
    if short_name(env) in SCORE_ENVS:
        return 100 * result.mean_score, 100 * result.score_low, 100 * result.score_high
    return 100 * result.success_rate, 100 * result.success_low, 100 * result.success_high


def row_order(args: argparse.Namespace) -> list[str]:
    """The table's rows in the paper's order; the agentevol run gives two (BC-base, AgentEvol)."""
    asked = set(args.rows) | ({"bc-base"} if "agentevol" in args.rows else set())
    rows = [row for row in ("base", "bc-base", "bc-large", "agentevol") if row in asked]
    return rows + (list(GRPO_ROWS) if args.grpo else [])


def as_json(args: argparse.Namespace, columns: list[EnvRows], argv: list[str], started: float) -> dict:
    """The table as data: per env, each row's number, interval, raw rates and minutes, and the
    paper's number beside it."""
    envs = {}
    for column in columns:
        name, minutes = short_name(column.env), minutes_of(args, column.env)
        rows = {}
        for row in row_order(args):
            result = column.results.get(row)
            entry: dict[str, Any] = {"paper": paper_value(row, name), "minutes": minutes[row]}
            if result is not None:
                value, low, high = reported(column.env, result)
                entry.update(
                    value=round(value, 2),
                    low=round(low, 2),
                    high=round(high, 2),
                    episodes=result.episodes,
                    success_rate=result.success_rate,
                    mean_score=result.mean_score,
                )
            elif row in column.problems:
                entry["problem"] = column.problems[row]
            rows[row] = entry
        envs[name] = {
            "metric": "mean score x 100" if name in SCORE_ENVS else "success %",
            "settings": dataclasses.asdict(column.settings),
            "rows": rows,
            "gpt-4-turbo (paper)": paper_value("gpt-4-turbo", name),
            "minutes": minutes["total"],
        }
    return {
        "command": "python benchmarks/paper_table.py " + " ".join(argv),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": args.model + (" + LoRA" if args.lora else ""),
        "base_endpoint": args.base_endpoint
        and {"url": args.base_endpoint, "model": args.base_model or args.model},
        "settings": args.settings,
        "iterations": args.iterations,
        "samples": args.samples,
        "quick": args.quick,
        "minutes_this_invocation": round((time.perf_counter() - started) / 60, 1),
        "envs": envs,
        "paper_source": "AgentGym (arXiv 2406.04151), main results table, as REFERENCE.md quotes it",
    }


def cell(entry: dict[str, Any]) -> str:
    if "value" in entry:
        return f"{entry['value']:.1f} [{entry['low']:.0f}, {entry['high']:.0f}]"
    return "cannot train" if "problem" in entry else "-"


def paper_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"  # as the paper prints them


def table_line(label: str, cells: list[str]) -> str:
    return f"| {label} | " + " | ".join(cells) + " |"


def markdown(table: dict) -> str:
    """The paper's layout: a row per method, a column per env; each of our rows followed by the
    paper's, GPT-4-Turbo last; then minutes per env and row, the settings, what could not train."""
    envs = table["envs"]
    names = sorted(envs, key=lambda n: PAPER_ENVS.index(n) if n in PAPER_ENVS else len(PAPER_ENVS))
    rows = list(envs[names[0]]["rows"]) if names else []
    columns = [f"{n} ({'score' if n in SCORE_ENVS else 'success'})" for n in names]
    rule = "|---|" + "---:|" * len(names)
    results = [table_line("method", columns), rule]
    for row in rows:
        endpoint = table["base_endpoint"]
        who = endpoint["model"] if row == "base" and endpoint else table["model"]
        results.append(table_line(f"{LABELS[row]}: {who}", [cell(envs[n]["rows"][row]) for n in names]))
        if row in PAPER_RESULTS:
            paper = [paper_cell(envs[n]["rows"][row]["paper"]) for n in names]
            results.append(table_line(f"{LABELS[row]}: Llama-2-Chat-7B (paper)", paper))
    results.append(
        table_line("GPT-4-Turbo (paper)", [paper_cell(envs[n]["gpt-4-turbo (paper)"]) for n in names])
    )
    minutes = [table_line("minutes", columns), rule]
    for row in rows:
        minutes.append(table_line(LABELS[row], [f"{envs[n]['rows'][row]['minutes']:.1f}" for n in names]))
    minutes.append(
        table_line("total (AgentEvol's include BC-base's)", [f"{envs[n]['minutes']:.1f}" for n in names])
    )
    settings = []
    for n in names:
        s = envs[n]["settings"]
        rounds = s["max_rounds"] or family(n).max_rounds
        trained = f"{s['epochs']:g} BC epochs at lr {rate(s['learning_rate'])}"
        settings.append(f"- {n}: {trained}, max length {s['max_length']}, {rounds} rounds ({s['why']})")
    problems = [
        f"- {n}, {LABELS[row]}: {entry['problem']}"
        for n in names
        for row, entry in envs[n]["rows"].items()
        if "problem" in entry
    ]
    caption = (
        "AgentEval (test split, greedy), % [95% interval]: success (Wilson interval), or mean score x 100 "
        f"where the paper reports score (normal interval). AgentEvol: M = {table['iterations']}, "
        f"K = {table['samples']}; one model per env. Paper rows: {table['paper_source']}; its "
        "zero-shot Llama-2-Chat-7B row is not quoted there (-)."
    )
    if table["quick"]:
        caption += " Quick mode: sizes that check the pipeline; the numbers mean nothing."
    return "\n".join(
        [
            "# AgentGym's main table, reproduced",
            "",
            f"command: `{table['command']}`  ",
            f"machine: {table['machine']}  ",
            f"date: {table['date']}",
            "",
            caption,
            "",
            *results,
            "",
            "Minutes per env and row, summed over every invocation (each run folder's metrics.jsonl):",
            "",
            *minutes,
            "",
            f"Settings ({table['settings']}):",
            "",
            *settings,
            *(["", "Could not be trained:", "", *problems] if problems else []),
            "",
        ]
    )


def plot(table: dict, columns: list[EnvRows], path: Path) -> None:
    """agentgym evolve's success plot, with the table's rows as its stages and the paper's
    metric as the value (mean score for BabyAI and SciWorld)."""
    results: dict[str, dict[str, EnvResult]] = {}
    for row in next(iter(table["envs"].values()))["rows"] if table["envs"] else []:
        results[LABELS[row]] = {}
        for column in columns:
            if row in column.results:
                value, low, high = (v / 100 for v in reported(column.env, column.results[row]))
                shown = dataclasses.replace(
                    column.results[row], success_rate=value, success_low=low, success_high=high
                )
                results[LABELS[row]][column.env] = shown
    plot_success(
        results,
        path,
        title=f"AgentGym's main table: {table['model']}",
        ylabel="AgentEval % (success; BabyAI, SciWorld: score), 95% CI",
    )


def write_table(args: argparse.Namespace, columns: list[EnvRows], argv: list[str], started: float) -> str:
    out = Path(args.out)
    table = as_json(args, columns, argv, started)
    text = markdown(table)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "table.json", json.dumps(table, indent=1) + "\n")
    atomic_write_text(out / "table.md", text)
    plot(table, columns, out / "table.png")
    return text


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    started = time.perf_counter()
    configure_threads()  # AGENTGYM_THREADS, before anything runs (and the header names it)
    say(f"{cpu_name()}; envs {', '.join(short_name(e) for e in args.envs)}; settings {args.settings}")
    columns: list[EnvRows] = []
    try:
        for env in args.envs:
            began = time.perf_counter()
            columns.append(run_env(args, env))
            write_table(args, columns, argv, started)  # a long run shows each env as it finishes
            say(f"{short_name(env)} done in {(time.perf_counter() - began) / 60:.1f} min (this invocation)")
    except ValueError as error:  # a run folder made with other settings, a bad value
        sys.exit(f"paper_table: {error}")
    print(write_table(args, columns, argv, started))
    return json.loads((Path(args.out) / "table.json").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
