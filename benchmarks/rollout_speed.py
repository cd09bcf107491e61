"""Rollout speed: whole episodes (Maze by default), one at a time (AgentGym's client loop) against
16 at once.

Every row plays the same tasks greedily with the same model in the same process:

- ``one at a time``: AgentGym's client loop. Each round re-encodes the whole conversation and
  generates one reply (``LLMPolicy.generate`` on a batch of one).
- ``16 at once``: the rollout engine with 16 live episodes, one batched ``LLMPolicy.generate``
  per round (left padding, KV cache within the round), prompts re-encoded every round.
- ``16 at once + prefix cache``: the engine's default: each episode's KV cache is kept between
  rounds, so a round runs only the new observation and the reply; an episode whose cache missed
  (its prompt cut to fit the context) is prefilled apart from the others.
- ``... in one batch per round``: the same, every round's rows in one padded prefill (how the
  cache worked before misses were set apart): shows what that costs where contexts overflow
  (TextCraft, ``--env textcraft``), and that it costs nothing where they do not (Maze).
- ``... cutting the fewest exchanges``: the default, but an overflowing prompt drops the fewest
  old exchanges that make it fit (``DROP_BLOCK`` 1), so the cut moves every round and the cache
  misses; the default drops them in blocks. Only this row may play other trajectories (its
  prompts differ once they overflow).

Greedy decoding must give the same trajectories in every row; the script checks and says so.
Reported: generated tokens/s, episodes/min, the ratio of each to the one-at-a-time row, and the
share of rollout wall time spent inside ``env.reset`` / ``env.step``.

The model is the ``tiny`` preset after a short behavioural cloning on the env's AgentTraj (with
the experts' full thoughts, so replies are AgentGym-sized ReAct turns), or ``--model PATH``.

Usage: python benchmarks/rollout_speed.py [--env maze] [--split train] [--tasks 32] [--concurrency 16]
                                          [--model PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from common import print_header

from agentgym_envs import family, require_engine, short_name
from agentgym_envs.data import expert_trajectories
from agentgym_rl import policy as policy_module
from agentgym_rl import prefix_cache
from agentgym_rl.bc import BCConfig, train_bc
from agentgym_rl.models import load_model
from agentgym_rl.policy import configure_threads
from agentgym_rl.rollout import RolloutConfig, RolloutStats, make_jobs, rollout


def trained_tiny(env: str, epochs: float):
    """The tiny preset (built in a temporary cache) after ``epochs`` of BC on ``env``'s AgentTraj."""
    with tempfile.TemporaryDirectory() as cache:
        previous = os.environ.get("AGENTGYM_CACHE")
        os.environ["AGENTGYM_CACHE"] = cache
        try:
            policy = load_model("tiny")
        finally:
            os.environ.pop("AGENTGYM_CACHE") if previous is None else os.environ.update(
                AGENTGYM_CACHE=previous
            )
    records, _ = expert_trajectories(env, "agenttraj", progress=False)
    config = BCConfig(epochs=epochs, learning_rate=1e-3, batch_tokens=1024, bf16=True)
    train_bc(policy, records, config, progress=False)
    return policy


def measure(policy, jobs, config: RolloutConfig, variant: str = "") -> tuple[RolloutStats, list[dict]]:
    """One row: ``variant`` swaps in a reference behaviour for its duration."""
    stats = RolloutStats()
    grouping, block = prefix_cache.similar_new_lengths, policy_module.DROP_BLOCK
    if variant == "one batch":  # every row of a round in one padded prefill
        prefix_cache.similar_new_lengths = lambda lengths: [list(range(len(lengths)))]
    if variant == "fewest":  # an overflowing prompt drops the fewest exchanges that make it fit
        policy_module.DROP_BLOCK = 1
    try:
        records = rollout(policy, jobs, config, stats=stats, progress=False)
    finally:
        prefix_cache.similar_new_lengths, policy_module.DROP_BLOCK = grouping, block
    return stats, records


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="maze", help="env whose tasks are played (default maze)")
    parser.add_argument("--tasks", type=int, default=32, help="tasks played in each row")
    parser.add_argument(
        "--split",
        choices=["train", "test"],
        default="train",
        help="train: the instruction set's first tasks (Maze's: short, mostly solved); test: AgentEval's "
        "(a weak model fails them: long episodes that overflow the context)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="live episodes in the batched rows")
    parser.add_argument("--model", default=None, help="a checkpoint folder (default: tiny after a short BC)")
    parser.add_argument("--bc-epochs", type=float, default=3.0, help="BC epochs for the default model")
    parser.add_argument("--max-new-tokens", type=int, default=96, help="longest reply per round")
    args = parser.parse_args()
    try:
        env = require_engine(args.env)
    except (ValueError, ImportError) as error:
        parser.error(str(error))

    configure_threads()
    started = time.perf_counter()
    policy = load_model(args.model) if args.model else trained_tiny(env, args.bc_epochs)
    setup_seconds = time.perf_counter() - started
    jobs = make_jobs([env], list(getattr(family(env).splits, args.split)[: args.tasks]))
    rollout(policy, jobs[:2], RolloutConfig(max_new_tokens=8), progress=False)  # warm-up

    settings = dict(temperature=0.0, max_new_tokens=args.max_new_tokens)
    rows = [
        (
            "one at a time (AgentGym client loop)",
            RolloutConfig(concurrency=1, prefix_cache=False, **settings),
        ),
        (
            f"{args.concurrency} at once",
            RolloutConfig(concurrency=args.concurrency, prefix_cache=False, **settings),
        ),
        (
            f"{args.concurrency} at once + prefix cache",
            RolloutConfig(concurrency=args.concurrency, prefix_cache=True, **settings),
        ),
        (
            f"{args.concurrency} at once + prefix cache, in one batch per round",
            RolloutConfig(concurrency=args.concurrency, prefix_cache=True, **settings),
        ),
        (
            f"{args.concurrency} at once + prefix cache, cutting the fewest exchanges",
            RolloutConfig(concurrency=args.concurrency, prefix_cache=True, **settings),
        ),
    ]
    variants = {"in one batch per round": "one batch", "cutting the fewest exchanges": "fewest"}
    results = []
    for name, config in rows:
        variant = next((v for suffix, v in variants.items() if name.endswith(suffix)), "")
        stats, records = measure(policy, jobs, config, variant)
        results.append((name, stats, records))
        print(f"{name}: {stats.wall_seconds:.1f} s", file=sys.stderr)

    baseline = results[0][1]
    same = all(records == results[0][2] for name, _, records in results if not name.endswith("exchanges"))
    successes = sum(r["success"] for r in results[0][2])
    print()
    print_header()
    print(
        f"Model: {args.model or policy.name} ({policy.num_parameters / 1e6:.2f}M parameters; "
        f"set up in {setup_seconds:.0f} s); "
        f"{len(jobs)} {short_name(env)} {args.split}-split tasks, greedy, {baseline.turns} replies, "
        f"{baseline.generated_tokens} generated tokens, {successes}/{len(jobs)} solved  "
    )
    print(f"Same trajectories in every row but the last: {'yes' if same else 'NO'}\n")
    print("| rollout | wall s | generated tok/s | episodes/min | speed-up | env time / rollout time |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, stats, _ in results:
        print(
            f"| {name} | {stats.wall_seconds:.1f} | {stats.tokens_per_second:.0f} "
            f"| {stats.episodes_per_minute:.1f} | {baseline.wall_seconds / stats.wall_seconds:.2f}x "
            f"| {100 * stats.env_fraction:.2f}% |"
        )


if __name__ == "__main__":
    main()
