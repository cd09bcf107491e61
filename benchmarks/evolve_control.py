"""How much of AgentEvol's gain is the explored data, and how much is just more training?

Takes a finished ``agentgym evolve`` run folder and replays its training schedule with the
exploration taken out: every iteration trains on the expert data (AgentTraj) alone, for as many
optimizer steps as that iteration of the run took, from the same starting point the run used
(the last model for ``--retrain_from last``, the base model for ``--retrain_from base``) and at
the same peak learning rate (``--iteration_lr_scale`` x BC's when continuing the last model). After
each iteration both are scored on the same AgentEval tasks with the same reply budget.

If AgentEvol beats this control, the explored trajectories (not the extra steps) made the
difference. Both columns come from the same code and settings; only the data differ.

Usage: python benchmarks/evolve_control.py [RUN_DIR]   (default runs/evolve-maze)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from common import print_header

from agentgym_envs import short_name
from agentgym_envs.data import load_trajectories
from agentgym_rl.agentevol import BC_BASE, AgentEvolConfig, reply_budget, saved_configs
from agentgym_rl.bc import BCConfig, train_bc
from agentgym_rl.evaluate import evaluate, load_results
from agentgym_rl.models import ModelConfig
from agentgym_rl.run_dir import RunDir


def read_run(run_dir: Path) -> tuple[AgentEvolConfig, BCConfig, ModelConfig, dict]:
    """The run's settings and its metrics per (event, stage)."""
    try:
        config, bc_config, model_config = saved_configs(run_dir)
    except ValueError as error:
        sys.exit(f"evolve_control: {error}")
    return config, bc_config, model_config, RunDir(run_dir).metrics()


def iteration_schedule(metrics: dict) -> list[tuple[str, int]]:
    """(stage, optimizer steps) of each finished training iteration, in order."""
    steps = {stage: entry["steps"] for (event, stage), entry in metrics.items() if event == "train"}
    steps.pop(BC_BASE, None)
    return sorted(steps.items(), key=lambda item: int(item[0].removeprefix("iter")))


def matched_config(bc_config: BCConfig, steps: int, expert_steps_per_epoch: int) -> BCConfig:
    """The run's BC settings with the epochs that give ``steps`` optimizer steps on the expert data."""
    return dataclasses.replace(bc_config, epochs=steps / expert_steps_per_epoch, save_dir=None)


def success(results) -> dict[str, float]:
    return {env: 100 * result.success_rate for env, result in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "run_dir", nargs="?", default="runs/evolve-maze", help="a finished agentgym evolve run"
    )
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    config, bc_config, model_config, metrics = read_run(run_dir)
    schedule = iteration_schedule(metrics)
    if not schedule:
        sys.exit(f"evolve_control: {run_dir} has no finished iteration to compare with")
    expert = load_trajectories(run_dir / "data" / f"{config.bc_split}.json")
    bc_base_steps = metrics[("train", BC_BASE)]["steps"]
    expert_steps_per_epoch = max(1, round(bc_base_steps / bc_config.epochs))

    base_policy = model_config.load(name=str(run_dir / "checkpoints" / BC_BASE), lora=False)
    # AgentEval as the run played it: greedy, with the run's reply budget and concurrency.
    budget = reply_budget(base_policy, expert, config.rollout.max_new_tokens)
    rollout_config = config.rollout.for_rollout(greedy=True, max_new_tokens=budget)
    iteration_bc = config.iteration_bc(bc_config)  # as agentevol's iterations train (steps matched below)
    rows, started = [], time.perf_counter()
    control = base_policy
    for stage, steps in schedule:
        if config.retrain_from == "base":
            control = model_config.load(seed=bc_config.seed)
        print(f"{stage}: control trains {steps} steps on {len(expert)} expert trajectories", file=sys.stderr)
        trained = train_bc(
            control, expert, matched_config(iteration_bc, steps, expert_steps_per_epoch), progress=False
        )
        control_results, _ = evaluate(
            control, config.envs, limit=config.eval_limit, config=rollout_config, progress=False
        )
        evolve_results = load_results(run_dir / "eval" / f"{stage}.json")
        rows.append((stage, steps, trained["steps"], success(evolve_results), success(control_results)))

    bc_base = success(load_results(run_dir / "eval" / f"{BC_BASE}.json"))
    print_header()
    print(
        f"run: {run_dir} (model {model_config.model}, retrain_from {config.retrain_from}, weighting "
        f"{config.weighting}, seed {bc_config.seed}); control: expert data only, steps matched; "
        f"{time.perf_counter() - started:.0f} s\n"
    )
    print(
        "| iteration | env | AgentEvol success % | control success % | AgentEvol - control "
        "| steps (run / control) |"
    )
    print("|---|---|---:|---:|---:|---|")
    for env, value in bc_base.items():
        print(f"| {BC_BASE} | {short_name(env)} | {value:.1f} | {value:.1f} | 0.0 | - |")
    for stage, run_steps, control_steps, evolve, control_success in rows:
        for env in evolve:
            gap = evolve[env] - control_success[env]
            print(
                f"| {stage} | {short_name(env)} | {evolve[env]:.1f} | {control_success[env]:.1f} "
                f"| {gap:+.1f} | {run_steps} / {control_steps} |"
            )


if __name__ == "__main__":
    main()
