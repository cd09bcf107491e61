"""Policy speed: tiny-preset build time and generation tokens/s, one prompt at a time against
batches of 16 (what the rollout engine does with many live episodes).

Prompts are Maze expert conversations cut before an assistant turn (realistic lengths, several
hundred tokens); every generation runs greedy to ``--new-tokens`` or the end of the turn, and
only real new tokens count. Each preset is built from scratch in a temporary cache, so the
build time includes loading the shipped tokenizer, initialising the model and saving both.

Usage: python benchmarks/generate_speed.py [--models tiny tiny-5m tiny-20m] [--new-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from common import print_header

from agentgym_envs.data import expert_trajectories
from agentgym_rl.models import load_model
from agentgym_rl.trajectory import to_messages


def maze_prompts(count: int) -> list[list[dict[str, str]]]:
    records, _ = expert_trajectories("maze", "agenttraj_l", limit=count, progress=False)
    prompts = []
    for index, record in enumerate(records):
        turns = record["conversations"]
        cut = min(3 + 2 * (index % 4), len(turns) - 1)  # before the 1st..4th action
        prompts.append(to_messages(turns[:cut]))
    return prompts


def tokens_per_second(policy, prompts, batch_size: int, new_tokens: int) -> float:
    policy.generate(prompts[:batch_size], max_new_tokens=4)  # warm-up
    before, started = policy.generated_tokens, time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        policy.generate(prompts[start : start + batch_size], max_new_tokens=new_tokens)
    return (policy.generated_tokens - before) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models",
        nargs="*",
        default=["tiny", "tiny-5m", "tiny-20m"],
        help="tiny presets to build and measure",
    )
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated per prompt")
    parser.add_argument("--prompts", type=int, default=32, help="prompts per measurement (batch 1 and 16)")
    args = parser.parse_args()

    prompts = maze_prompts(args.prompts)
    rows = []
    for name in args.models:
        with tempfile.TemporaryDirectory() as cache:
            os.environ["AGENTGYM_CACHE"] = cache
            started = time.perf_counter()
            policy = load_model(name)
            build_seconds = time.perf_counter() - started
        print(f"measuring {name} ...", file=sys.stderr)
        single = tokens_per_second(policy, prompts[: max(4, args.prompts // 4)], 1, args.new_tokens)
        batched = tokens_per_second(policy, prompts, 16, args.new_tokens)
        rows.append((name, policy.num_parameters, len(policy.tokenizer), build_seconds, single, batched))

    print_header()
    print(
        "| model | parameters | vocabulary | build s (cold) | generate tok/s batch 1 | batch 16 | speed-up |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, parameters, vocabulary, build, single, batched in rows:
        print(
            f"| {name} | {parameters / 1e6:.2f}M | {vocabulary} | {build:.1f} | {single:,.0f} | "
            f"{batched:,.0f} | {batched / single:.1f}x |"
        )


if __name__ == "__main__":
    main()
