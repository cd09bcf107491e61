"""BC training speed: our trainer (agentgym_rl.bc) against a plain ``transformers.Trainer``.

Both train the same freshly built model (a tiny preset) on the same Maze expert records with the
same loss masks, learning rate, schedule, clipping and number of optimizer steps (the Trainer's
batch size is set so its step count matches ours), in one process, alternating runs so a busy
machine hurts both alike; the best of ``--repeats`` runs of each is reported. Throughput is real
(non-padding) tokens per second of training. Needs ``accelerate`` (the Trainer requires it).

Usage: python benchmarks/train_speed.py [--model tiny] [--records 100] [--epochs 1] [--bf16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from common import print_header

from agentgym_envs.data import expert_trajectories
from agentgym_rl.bc import BCConfig, train_bc
from agentgym_rl.models import load_model
from agentgym_rl.policy import LLMPolicy, pad_right
from agentgym_rl.trajectory import IGNORE_INDEX, tokenize_records


def run_ours(model_dir: str, records: list[dict], config: BCConfig) -> dict:
    policy = LLMPolicy.load(model_dir)
    metrics = train_bc(policy, records, config, progress=False)
    curve, previous, total = metrics["loss_curve"], 0, 0.0
    for point in curve:  # each point averages the steps since the one before
        total += point["loss"] * (point["step"] - previous)
        previous = point["step"]
    return {
        "tokens_per_second": metrics["tokens_per_second"],
        "seconds": metrics["train_seconds"],
        "steps": metrics["steps"],
        "mean_loss": total / previous,
    }


def run_hf_trainer(model_dir: str, records: list[dict], config: BCConfig, steps: int) -> dict:
    """The same data and settings through ``transformers.Trainer`` (fixed-size batches)."""
    from transformers import PrinterCallback, Trainer, TrainingArguments

    policy = LLMPolicy.load(model_dir)
    examples, _ = tokenize_records(records, policy.tokenizer, min(config.max_length, policy.max_context))
    dataset = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
    batch_size = max(1, round(len(dataset) * config.epochs / steps))

    def collate(batch: list[dict]) -> dict:
        input_ids, attention_mask = pad_right([b["input_ids"] for b in batch], policy.pad_token_id, "cpu")
        labels, _ = pad_right([b["labels"] for b in batch], IGNORE_INDEX, "cpu")
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    with tempfile.TemporaryDirectory() as output_dir:
        arguments = TrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=batch_size,
            num_train_epochs=config.epochs,
            learning_rate=config.learning_rate,
            lr_scheduler_type=config.lr_schedule,
            warmup_steps=config.warmup_ratio,
            weight_decay=config.weight_decay,
            max_grad_norm=config.max_grad_norm,
            bf16=config.bf16,
            use_cpu=True,
            seed=config.seed,
            logging_steps=config.log_every,
            save_strategy="no",
            report_to=[],
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = Trainer(model=policy.model, args=arguments, train_dataset=dataset, data_collator=collate)
        trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
        policy.model.train()
        started = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - started
    tokens = sum(len(e["input_ids"]) for e in dataset) * config.epochs
    return {
        "tokens_per_second": tokens / seconds,
        "seconds": seconds,
        "steps": output.global_step,
        "mean_loss": output.training_loss,
        "batch_size": batch_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="tiny", help="tiny preset to train (tiny, tiny-5m, tiny-20m)")
    parser.add_argument("--records", type=int, default=100, help="Maze expert episodes to train on")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument(
        "--batch-tokens", type=int, default=4096, help="our micro-batch budget in padded tokens"
    )
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for both")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each; the best counts")
    args = parser.parse_args()

    records, _ = expert_trajectories("maze", "agenttraj_l", limit=args.records, progress=False)
    config = BCConfig(epochs=args.epochs, batch_tokens=args.batch_tokens, bf16=args.bf16, log_every=10)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        policy = load_model(args.model)
        load_seconds = time.perf_counter() - started
        model_dir = str(policy.save(os.path.join(folder, "model")))
        results: dict[str, list[dict]] = {"ours": [], "trainer": []}
        for _ in range(args.repeats):
            results["ours"].append(run_ours(model_dir, records, config))
            results["trainer"].append(
                run_hf_trainer(model_dir, records, config, results["ours"][-1]["steps"])
            )
    best = {name: max(runs, key=lambda r: r["tokens_per_second"]) for name, runs in results.items()}

    print_header()
    print(
        f"model: {args.model} ({policy.num_parameters / 1e6:.2f}M parameters, "
        f"vocabulary {len(policy.tokenizer)}; loaded or built in {load_seconds:.1f} s); "
        f"data: {len(records)} Maze expert episodes, "
        f"{args.epochs:g} epoch(s), {'bf16 autocast' if args.bf16 else 'fp32'}\n"
    )
    print("| trainer | tokens/s | train s | steps | mean training loss | batching |")
    print("|---|---:|---:|---:|---:|---|")
    batching = {
        "ours": f"length-grouped, <= {args.batch_tokens} padded tokens",
        "trainer": f"{best['trainer']['batch_size']} records, random order",
    }
    for name, label in (("ours", "agentgym_rl.bc"), ("trainer", "transformers.Trainer")):
        run = best[name]
        print(
            f"| {label} | {run['tokens_per_second']:,.0f} | {run['seconds']:.1f} | {run['steps']} | "
            f"{run['mean_loss']:.3f} | {batching[name]} |"
        )
    ratio = best["ours"]["tokens_per_second"] / best["trainer"]["tokens_per_second"]
    print(f"\nratio ours / Trainer: {ratio:.2f}x ({'ok' if ratio >= 1.0 else 'MISSED'}: target >= 1.0x)")
    for name, runs in results.items():
        print(f"all {name} runs (tokens/s): " + ", ".join(f"{run['tokens_per_second']:,.0f}" for run in runs))


if __name__ == "__main__":
    main()
