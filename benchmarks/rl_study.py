"""What learns after BC? Six ways to continue one converged BC-base, scored on held-out tasks.

For each env, one BC-base is trained on the expert data (AgentTraj) until it stops improving on
validation tasks drawn from the instruction set (never the test split; early stopping keeps the
best checkpoint). From that same model, each arm then learns:

  (a) bc-more      more BC on the expert data, for as many optimizer steps as each of (b)-(d)
  (b) evol-filter  AgentEvol, M iterations: explore K samples per instruction, keep successes
  (c) evol-rwr     the same, every explored trajectory weighted exp((r - 1) / beta)
  (d) evol-adv     the same, signed advantage: failures pushed down (to a floor), not dropped
  (e) grpo         GRPO over whole episodes (agentgym grpo)
  (f) grpo-curric  GRPO with a horizon curriculum (round limits 1/3, 2/3, all of the env's)

Every arm and the BC-base are scored greedily on the same held-out tasks: where the env generates
tasks (Maze, BabyAI), its ``heldout`` ids (tasks in no AgentGym split, unseen by every arm), 400
by default so that a 10-point difference lies outside the 95% intervals (Wilson half-widths are
at most 4.9 points at n = 400); elsewhere (TextCraft) all it has: the test split plus the
instruction set beyond AgentTraj and validation (validation there is a seeded sample of the
instruction set beyond AgentTraj, so it is drawn like the held-out tasks), and the arms then learn
on AgentTraj's tasks. Each env's folder records its task ids (tasks.json) and is not resumed with
others.
(a)-(d) take the same optimizer steps; (e) and (f) play more episodes and take fewer
steps: the table shows both, and the minutes. The rollout-speed table sets GRPO's batched
rollouts (B x G episodes at once) beside AgentEvol's exploration on the same BC-base.

Resumable: every finished piece (data, BC-base, explorations, each arm's model, each evaluation)
is saved under --out and read back on a rerun of the same command.

Usage: python benchmarks/rl_study.py [--envs maze babyai] [--out runs/rl-study] [--heldout 400]
       python benchmarks/rl_study.py --quick     (a small run that checks the pipeline)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import print_header

from agentgym_envs import family, require_engine, short_name
from agentgym_envs.data import atomic_write_text, expert_trajectories, load_trajectories, save_trajectories
from agentgym_rl.agentevol import (
    AgentEvolConfig,
    EvolveBCConfig,
    reply_budget,
    shorten_thoughts,
    training_set,
)
from agentgym_rl.bc import BCConfig, plan_epoch, train_bc, train_weighted
from agentgym_rl.evaluate import EnvResult, evaluate, load_results, play_saved, save_eval
from agentgym_rl.grpo import GRPOConfig, GRPORolloutConfig, grpo
from agentgym_rl.models import ModelConfig
from agentgym_rl.rollout import RolloutStats, make_jobs, rollout
from agentgym_rl.rollout_config import RolloutConfig
from agentgym_rl.train_loop import newest_checkpoint
from agentgym_rl.trajectory import tokenize_records

ARMS = ("bc-more", "evol-filter", "evol-rwr", "evol-adv", "grpo", "grpo-curric")
WEIGHTING = {"evol-filter": "filter", "evol-rwr": "rwr", "evol-adv": "advantage"}
DONE = "DONE"


# ------------------------------------------------------------------------------ settings
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--envs", nargs="+", default=["maze", "textcraft"], help="envs to study (default: maze textcraft)")
    add("--out", default="runs/rl-study", help="study folder (rerun the command to resume)")
    add("--arms", nargs="+", default=list(ARMS), choices=ARMS, help="arms to run (default: all six)")
    add("--heldout", type=int, default=400, help="held-out tasks scored per arm (the env's heldout ids)")
    add("--validation", type=int, default=60, help="instruction-set tasks kept out to stop BC on")
    add("--instructions", type=int, default=0, help="tasks the arms learn from (0: the set minus validation)")
    add(
        "--bc_max_epochs", type=float, default=80, help="BC-base's epoch cap (it stops earlier on validation)"
    )
    add("--bc_check_epochs", type=float, default=5, help="epochs between validation checks of BC-base")
    add("--patience", type=int, default=2, help="checks without a better validation score before BC stops")
    add("--iterations", type=int, default=2, help="M: AgentEvol iterations of (b)-(d)")
    add("--samples", type=int, default=2, help="K: explored samples per instruction (b)-(d)")
    add(
        "--iteration_steps",
        type=int,
        default=0,
        help="optimizer steps per iteration (0: 5 epochs of the expert data)",
    )
    add("--grpo_steps", type=int, default=30, help="GRPO steps of (e) and (f)")
    add("--grpo_lr", type=float, default=5e-4, help="GRPO's learning rate")
    add("--grpo_updates", type=int, default=1, help="GRPO's updates per batch (PPO clip beyond 1)")
    add("--tasks_per_step", type=int, default=8, help="GRPO's B")
    add("--group_size", type=int, default=8, help="GRPO's G")
    add("--seed", type=int, default=0, help="seed of the model build, batches and sampling")
    add("--quick", action="store_true", help="tiny sizes: checks the pipeline in a few minutes, says nothing")
    args = parser.parse_args(argv)
    if args.quick:
        args.heldout, args.validation, args.bc_max_epochs, args.bc_check_epochs = 40, 12, 4, 2
        args.instructions, args.samples = 16, 1
        args.iteration_steps, args.grpo_steps, args.tasks_per_step, args.group_size = 20, 2, 4, 4
    for name in ("heldout", "validation", "iterations", "samples", "grpo_steps", "patience"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    try:
        args.envs = [require_engine(env) for env in args.envs]
    except (ValueError, ImportError) as error:
        parser.error(str(error))
    return args


@dataclass
class EnvStudy:
    """One env's part of the study: its folder, data, the ids each use draws from, settings."""

    env: str
    folder: Path
    args: argparse.Namespace
    expert: list[dict[str, Any]]
    pool: int  # the arms learn on the instruction set's first `pool` ids
    validation: list[int]
    heldout: list[int]
    heldout_kind: str
    rollout: RolloutConfig  # the reply budget resolved; greedy and sampled copies derive from it
    expert_steps_per_epoch: int  # optimizer steps of one epoch of the expert data (BC's batching)

    def path(self, *parts: str) -> Path:
        return self.folder.joinpath(*parts)


def say(message: str) -> None:
    print(f"[rl_study {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ pieces saved once
def saved_json(path: Path, make) -> Any:
    """``make()``'s JSON-able value, computed once: read back from ``path`` on a rerun."""
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(value, indent=1) + "\n")
    return value


def is_done(folder: Path) -> bool:
    return (folder / DONE).is_file()


def save_model(policy, folder: Path, facts: dict[str, Any]) -> None:
    """The model and what it cost, marked done last (a killed save is redone)."""
    shutil.rmtree(folder, ignore_errors=True)
    policy.save(folder)
    atomic_write_text(folder / "facts.json", json.dumps(facts, indent=1) + "\n")
    (folder / DONE).touch()


def load_model(folder: Path):
    return ModelConfig().load(name=str(folder), lora=False)


def facts_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "facts.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ data and ids
def open_env(env: str, args: argparse.Namespace, out: Path) -> EnvStudy:
    splits = family(env).splits
    train = list(splits.train)
    if len(train) - args.validation < len(splits.agenttraj):
        sys.exit(f"rl_study: --validation {args.validation} would take AgentTraj tasks of {short_name(env)}")
    if len(splits.heldout) >= args.heldout:
        pool, heldout = len(train) - args.validation, list(splits.heldout[: args.heldout])
        validation = train[pool:]
        kind = f"{args.heldout} generated heldout tasks"
    else:  # no generated tasks: every task no arm learns on
        # Validation is a seeded sample of the instruction set beyond AgentTraj, not its tail: an
        # instruction set can hold its tasks in an order (TextCraft's tail repeats goals AgentTraj
        # teaches), and a validation set unlike the held-out one stops BC on the wrong signal.
        pool = len(splits.agenttraj)
        beyond = train[pool:]
        validation = sorted(random.Random(args.seed).sample(beyond, args.validation))
        held_back = set(validation)
        heldout = list(splits.test) + [i for i in beyond if i not in held_back]
        kind = f"{len(heldout)} tasks: the test split and the instruction set beyond AgentTraj and validation"
    folder = out / short_name(env).lower()
    same_tasks_as_before(folder, validation, heldout)
    path = folder / "agenttraj.json"
    if not path.is_file():
        solved, _ = expert_trajectories(env, "agenttraj", progress=False)
        save_trajectories(shorten_thoughts(solved, 0), path)  # as agentgym evolve: actions only
    expert = load_trajectories(path)
    policy = ModelConfig().load(seed=args.seed, lora=False)
    budget = reply_budget(policy, expert, 0)
    rollout = RolloutConfig(concurrency=256, max_new_tokens=budget, seed=args.seed)
    epoch_steps = steps_per_epoch(policy, expert, EvolveBCConfig(seed=args.seed, report_to=["none"]))
    if args.instructions:
        pool = min(pool, args.instructions)
    return EnvStudy(env, folder, args, expert, pool, validation, heldout, kind, rollout, epoch_steps)


# ------------------------------------------------------------------------------ scoring
def scored(study: EnvStudy, name: str, policy, task_ids: list[int] | None = None) -> EnvResult:
    """Greedy success of ``policy`` on the held-out tasks (or ``task_ids``), saved as
    ``eval/<name>.json`` and read back on a rerun."""
    path = study.path("eval", f"{name}.json")
    if path.is_file():
        return load_results(path)[study.env]
    ids = task_ids if task_ids is not None else study.heldout
    greedy = dataclasses.replace(study.rollout, temperature=0.0)
    results, records = evaluate(policy, [study.env], task_ids=ids, config=greedy, progress=False)
    save_eval(results, records, path, label=name)
    return results[study.env]


def same_tasks_as_before(folder: Path, validation: list[int], heldout: list[int]) -> None:
    """Record the validation and held-out task ids in ``folder`` (``tasks.json``), or exit when a
    folder made earlier recorded others: what it saved (a BC-base stopped on its validation,
    scores on its held-out tasks) would be mixed with results on other tasks."""
    ids = {"validation": validation, "heldout": heldout}
    path = folder / "tasks.json"
    if path.is_file():
        if json.loads(path.read_text(encoding="utf-8")) != ids:
            sys.exit(
                f"rl_study: {folder} was made with other validation or held-out tasks (its tasks.json; "
                "these settings or this version of the study choose others): give a new --out"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(ids) + "\n")


# ------------------------------------------------------------------------------ BC-base
def steps_per_epoch(policy, records: list[dict[str, Any]], config: BCConfig) -> int:
    """Optimizer steps one epoch of ``records`` takes with ``config``'s batching."""
    examples, _ = tokenize_records(records, policy.tokenizer, min(config.max_length, policy.max_context))
    lengths = {i: len(e.input_ids) for i, e in enumerate(examples)}
    micro_batches = len(plan_epoch(lengths, config.batch_tokens, random.Random(config.seed)))
    return max(1, math.ceil(micro_batches / config.gradient_accumulation_steps))


def bc_base(study: EnvStudy) -> Path:
    """BC on AgentTraj until validation success stops rising: checked every --bc_check_epochs,
    stopped after --patience checks without a better score, the best checkpoint kept. A killed
    run resumes from its newest checkpoint (one per check) with the checks it had made."""
    folder = study.path("bc-base")
    if is_done(folder):
        return folder
    args = study.args
    policy = ModelConfig().load(seed=args.seed, lora=False)
    config = EvolveBCConfig(epochs=args.bc_max_epochs, seed=args.seed, report_to=["none"])
    check_every = max(1, round(args.bc_check_epochs * study.expert_steps_per_epoch))
    partial = study.path("bc-base.partial")
    config = dataclasses.replace(config, save_dir=str(partial), save_every=check_every)
    best = study.path("bc-base.best")
    curve = checks_made(study, check_every, partial)  # a check is saved after its step's checkpoint
    started = time.perf_counter()

    def should_stop() -> bool:
        since_best = len(curve) - 1 - max(range(len(curve)), key=lambda i: curve[i]["validation_success"])
        return since_best >= args.patience

    def check(steps_done: int, force: bool = False) -> bool:
        if steps_done % check_every and not force:
            return False
        result = scored(study, f"validation-step-{steps_done}", policy, study.validation)
        curve.append({"step": steps_done, "validation_success": result.success_rate})
        say(f"{short_name(study.env)} BC step {steps_done}: validation {100 * result.success_rate:.1f}%")
        if result.success_rate > max((p["validation_success"] for p in curve[:-1]), default=-1.0):
            save_model(policy, best, {"step": steps_done})
        return should_stop()

    if not (curve and should_stop()):  # else it had stopped when it was killed
        metrics = train_bc(policy, study.expert, config, progress=False, stop_after=check)
        if not curve or curve[-1]["step"] != metrics["steps"]:
            check(metrics["steps"], force=True)
    facts = facts_of(best)
    facts.update(
        steps_trained=curve[-1]["step"],
        steps_per_epoch=study.expert_steps_per_epoch,
        validation_curve=curve,
        minutes=round((time.perf_counter() - started) / 60, 2),
    )
    save_model(load_model(best), folder, facts)
    shutil.rmtree(best, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)
    return folder


def checks_made(study: EnvStudy, check_every: int, partial: Path) -> list[dict[str, float]]:
    """The validation checks an earlier, killed invocation made, in step order, up to its newest
    checkpoint (where training resumes). A check that was killed before it saved is made now
    from its checkpoint, and ``bc-base.best`` is brought in line with the curve."""
    newest = newest_checkpoint(partial)
    last = int(newest.name.removeprefix("checkpoint-")) if newest is not None else 0
    curve = []
    for step in range(check_every, last + 1, check_every):
        checkpoint = partial / f"checkpoint-{step}"
        saved = study.path("eval", f"validation-step-{step}.json")
        if not saved.is_file() and not checkpoint.is_dir():
            break
        # A saved check is read back; only a missing one needs its checkpoint's model.
        policy = None if saved.is_file() else load_model(checkpoint)
        result = scored(study, f"validation-step-{step}", policy, study.validation)
        curve.append({"step": step, "validation_success": result.success_rate})
    if curve:
        top = max(curve, key=lambda point: point["validation_success"])  # the first of equals, as check()
        best = study.path("bc-base.best")
        if not is_done(best) or facts_of(best).get("step") != top["step"]:
            save_model(load_model(partial / f"checkpoint-{top['step']}"), best, {"step": top["step"]})
    return curve


# ------------------------------------------------------------------------------ the arms
def explored(study: EnvStudy, policy, name: str, seed: int) -> tuple[list[dict[str, Any]], RolloutStats]:
    """K samples of every instruction in the pool at the exploration temperature (0.85, as
    agentgym evolve), saved as they end."""
    ids = family(study.env).splits.train[: study.pool]
    jobs = make_jobs([study.env], {study.env: ids}, samples=study.args.samples)
    sampling = dataclasses.replace(study.rollout, temperature=0.85, seed=seed)
    stats = RolloutStats()
    path = study.path("explore", f"{name}.jsonl")
    records = play_saved(jobs, sampling, path, f"explore {name}", policy=policy, progress=False, stats=stats)
    return records, stats


def iteration_config(study: EnvStudy, policy, records, steps: int) -> BCConfig:
    """AgentEvol's iteration settings (half BC's peak learning rate, continuing the last model)
    with the epochs that make ``steps`` optimizer steps on ``records``."""
    config = AgentEvolConfig(envs=[study.env], run_dir="-").iteration_bc(
        EvolveBCConfig(seed=study.args.seed, report_to=["none"])
    )
    return dataclasses.replace(config, epochs=steps / steps_per_epoch(policy, records, config))


def iteration_steps(study: EnvStudy) -> int:
    return study.args.iteration_steps or 5 * study.expert_steps_per_epoch


def bc_more(study: EnvStudy, base: Path, folder: Path) -> dict[str, Any]:
    """(a): the expert data alone, for the optimizer steps of all of (b)-(d)'s iterations."""
    policy = load_model(base)
    steps = study.args.iterations * iteration_steps(study)
    metrics = train_bc(
        policy, study.expert, iteration_config(study, policy, study.expert, steps), progress=False
    )
    save_model(policy, folder, {"optimizer_steps": metrics["steps"], "episodes": 0})
    return facts_of(folder)


def agentevol_arm(study: EnvStudy, arm: str, base: Path, folder: Path) -> dict[str, Any]:
    """(b)-(d): M iterations of exploring with the current model, weighting its trajectories,
    merging them with the expert data (and earlier iterations'), and training a fixed number of
    steps from the current model. The first exploration, from BC-base, is shared by the arms."""
    policy = load_model(base)
    weighting = WEIGHTING[arm]
    evolve = AgentEvolConfig(envs=[study.env], run_dir="-", weighting=weighting, samples=study.args.samples)
    steps, trajectories, done_steps, speeds = iteration_steps(study), [], 0, []
    for iteration in range(1, study.args.iterations + 1):
        name = "bc-base" if iteration == 1 else f"{arm}-iter{iteration - 1}"
        new, stats = explored(study, policy, name, seed=study.args.seed * 1000 + iteration)
        speeds.append(stats.tokens_per_second)
        trajectories += new
        records, weights = training_set(study.expert, trajectories, evolve)
        train = train_weighted if weighting == "advantage" else train_bc
        config = iteration_config(study, policy, records, steps)
        done_steps += train(policy, records, config, weights=weights, progress=False)["steps"]
        say(f"{short_name(study.env)} {arm} iteration {iteration}: {len(new)} explored, {done_steps} steps")
    facts = {
        "optimizer_steps": done_steps,
        "episodes": len(trajectories),
        "explore_tokens_per_second": speeds,
    }
    save_model(policy, folder, facts)
    return facts_of(folder)


def grpo_arm(study: EnvStudy, arm: str, base: Path, folder: Path) -> dict[str, Any]:
    """(e), (f): ``agentgym grpo`` from BC-base on the pool's tasks (its own resume inside)."""
    args = study.args
    schedule = ""
    if arm == "grpo-curric":
        limit = family(study.env).max_rounds
        schedule = ",".join(str(math.ceil(limit * part / 3)) for part in (1, 2, 3))
    config = GRPOConfig(
        envs=[study.env],
        run_dir=str(study.path("runs", arm)),
        steps=args.grpo_steps,
        tasks_per_step=args.tasks_per_step,
        group_size=args.group_size,
        updates_per_batch=args.grpo_updates,
        learning_rate=args.grpo_lr,
        rounds_schedule=schedule,
        rounds_every=max(1, math.ceil(args.grpo_steps / 3)),
        train_limit=study.pool,
        eval_every=10**6,  # the study scores the held-out tasks itself: AgentEval only at the ends
        eval_limit=10,
        seed=args.seed,
        report_to=["none"],
        progress=False,
        save_every=5,
        rollout=GRPORolloutConfig(max_new_tokens=study.rollout.max_new_tokens),
    )
    grpo(config, ModelConfig(model=str(base)))
    lines = [json.loads(line) for line in (Path(config.run_dir) / "metrics.jsonl").open()]
    steps = [line for line in lines if line.get("event") == "train"]
    policy = load_model(Path(config.run_dir) / "checkpoints" / f"checkpoint-{args.grpo_steps}")
    facts = {
        "optimizer_steps": args.grpo_steps * args.grpo_updates,
        "episodes": sum(line["episodes"] for line in steps),
        "rollout_tokens_per_second": [line["tokens_per_second"] for line in steps],
        "zero_variance_share": sum(line["zero_variance_share"] for line in steps) / len(steps),
        "rounds_schedule": schedule,
    }
    save_model(policy, folder, facts)
    return facts_of(folder)


def run_arm(study: EnvStudy, arm: str, base: Path) -> tuple[EnvResult, dict[str, Any]]:
    folder = study.path("arms", arm)
    if not is_done(folder):
        say(f"{short_name(study.env)}: arm {arm}")
        started = time.perf_counter()
        if arm == "bc-more":
            facts = bc_more(study, base, folder)
        elif arm in WEIGHTING:
            facts = agentevol_arm(study, arm, base, folder)
        else:
            facts = grpo_arm(study, arm, base, folder)
        facts["minutes"] = round((time.perf_counter() - started) / 60, 2)
        atomic_write_text(folder / "facts.json", json.dumps(facts, indent=1) + "\n")
    return scored(study, arm, load_model(folder)), facts_of(folder)


# ------------------------------------------------------------------------------ the tables
def difference_interval(a: EnvResult, b: EnvResult) -> tuple[float, float]:
    """95% interval of success(b) - success(a), normal approximation (unpaired: conservative
    for the same tasks), in points."""
    diff = b.success_rate - a.success_rate
    spread = math.sqrt(
        a.success_rate * (1 - a.success_rate) / a.episodes
        + b.success_rate * (1 - b.success_rate) / b.episodes
    )
    return 100 * (diff - 1.96 * spread), 100 * (diff + 1.96 * spread)


def arm_table(rows: list[tuple[str, str, EnvResult, dict[str, Any]]]) -> str:
    lines = [
        "| env | arm | held-out success % [95% CI] | mean score | minus (a) bc-more, points [95% CI] "
        "| optimizer steps | episodes played | minutes |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    reference = {env: result for env, arm, result, _ in rows if arm == "bc-more"}
    for env, arm, result, facts in rows:
        gap = "-"
        if arm not in ("bc-more", "bc-base") and env in reference:
            low, high = difference_interval(reference[env], result)
            gap = (
                f"{100 * (result.success_rate - reference[env].success_rate):+.1f} [{low:+.0f}, {high:+.0f}]"
            )
        lines.append(
            f"| {short_name(env)} | {arm} | {100 * result.success_rate:.1f} [{100 * result.success_low:.0f}, "
            f"{100 * result.success_high:.0f}] | {result.mean_score:.3f} | {gap} "
            f"| {facts.get('optimizer_steps', '-')} | {facts.get('episodes', '-')} "
            f"| {facts.get('minutes', '-')} |"
        )
    return "\n".join(lines)


def rollout_speeds(study: EnvStudy, base: Path) -> dict[str, float]:
    """Generated tokens/s of AgentEvol's exploration (K samples of every instruction, 256 at once,
    T = 0.85) and of GRPO's step rollouts (B x G episodes at once, T = 1; three steps' worth),
    back to back in one process on the BC-base: the same engine, the same model, the same load."""

    def measure() -> dict[str, float]:
        policy = load_model(base)
        ids = list(family(study.env).splits.train[: study.pool])
        explore = RolloutStats()
        sampling = dataclasses.replace(study.rollout, temperature=0.85, seed=1)
        rollout(policy, make_jobs([study.env], {study.env: ids}, samples=study.args.samples), sampling,
                progress=False, stats=explore)  # fmt: skip
        grpo_stats = RolloutStats()
        batch = dataclasses.replace(study.rollout, temperature=1.0, concurrency=64)
        for step in range(3):
            tasks = ids[step * study.args.tasks_per_step : (step + 1) * study.args.tasks_per_step]
            jobs = make_jobs([study.env], {study.env: tasks}, samples=study.args.group_size)
            rollout(policy, jobs, dataclasses.replace(batch, seed=step), progress=False, stats=grpo_stats)
        return {
            "explore_tokens_per_second": explore.tokens_per_second,
            "explore_episodes": explore.episodes,
            "grpo_tokens_per_second": grpo_stats.tokens_per_second,
            "grpo_episodes": grpo_stats.episodes,
        }

    return saved_json(study.path("speed.json"), measure)


def speed_table(speeds: dict[str, dict[str, float]]) -> str:
    lines = [
        "| env | exploration tok/s (episodes) | GRPO steps tok/s (episodes) | GRPO / exploration |",
        "|---|---:|---:|---:|",
    ]
    for env, speed in speeds.items():
        explore, grpo_speed = speed["explore_tokens_per_second"], speed["grpo_tokens_per_second"]
        lines.append(
            f"| {short_name(env)} | {explore:,.0f} ({speed['explore_episodes']}) "
            f"| {grpo_speed:,.0f} ({speed['grpo_episodes']}) | {grpo_speed / explore:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    started = time.perf_counter()
    rows, kinds, speeds = [], [], {}
    for env in args.envs:
        study = open_env(env, args, out)
        kinds.append(f"{short_name(env)} {study.heldout_kind}")
        base = bc_base(study)
        base_facts = facts_of(base)
        say(f"{short_name(env)}: BC-base from step {base_facts['step']} of {base_facts['steps_trained']}")
        rows.append((env, "bc-base", scored(study, "bc-base", load_model(base)), base_facts))
        speeds[env] = rollout_speeds(study, base)
        for arm in args.arms:
            result, facts = run_arm(study, arm, base)
            rows.append((env, arm, result, facts))
    print_header()
    held_out = "; ".join(kinds)
    print(
        f"held-out tasks, greedy: {held_out}; BC-base early-stopped on "
        f"{args.validation} instruction-set tasks; M={args.iterations}, K={args.samples}; GRPO "
        f"{args.grpo_steps} steps of B={args.tasks_per_step} x G={args.group_size}, lr {args.grpo_lr}, "
        f"{args.grpo_updates} updates a batch; seed {args.seed}; "
        f"{(time.perf_counter() - started) / 60:.1f} min this invocation\n"
    )
    print(arm_table(rows))
    print()
    print("Rollout speed on the BC-base, back to back in this process:\n")
    print(speed_table(speeds))
    for env, arm, _, facts in rows:
        if arm == "bc-base":
            curve = ", ".join(
                f"{p['step']}: {100 * p['validation_success']:.0f}%" for p in facts["validation_curve"]
            )
            print(f"\n{short_name(env)} BC-base validation curve (step: success): {curve}")


if __name__ == "__main__":
    main()
