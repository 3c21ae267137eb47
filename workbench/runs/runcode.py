"""Copy as code: a stored run as a llama-cpp-python snippet and as a curl command for an OpenAI-compatible
server, with the same model, prompt, settings and seed.

The snippet loads the model in the run's numeric mode (F32 K/V without flash attention for `reference`),
so at temperature 0 it reproduces the run's text; sampled runs draw from llama-cpp-python's own sampler
chain, which uses the same settings but not the workbench's random stream, so they match in distribution,
not token for token (said in the snippet).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from workbench.engine.numerics import GGML_TYPE_F32, numeric_mode

DEFAULT_SERVER = "http://127.0.0.1:8080"


def _sample(run: dict[str, Any], index: int) -> dict[str, Any]:
    samples = run.get("samples") or []
    return samples[index] if 0 <= index < len(samples) else {}


def python_snippet(run: dict[str, Any], sample: int = 0) -> str:
    params = run["params"]
    mode = numeric_mode(run.get("numerics") or "reference")
    seed = _sample(run, sample).get("seed", params.get("seed"))
    kv = "type_k=0, type_v=0, " if mode.kv_type == GGML_TYPE_F32 else ""
    note = (
        "# temperature 0: the same text as the run"
        if params.get("temperature", 0) == 0
        else "# sampled: same settings and seed, but llama-cpp-python's own sampler, so a different draw"
    )
    exact = (run.get("batching") or "exact") == "exact"
    no_repack = [
        "import llama_cpp.llama_cpp as low",
        "",
        "_defaults = low.llama_model_default_params",
        "",
        "",
        "def _unpacked():  # the workbench's exact mode: CPU weights are not repacked (same arithmetic as the run)",
        "    params = _defaults()",
        "    params.use_extra_bufts = False",
        "    return params",
        "",
        "",
        "low.llama_model_default_params = _unpacked",
    ]
    lines = [
        "from llama_cpp import Llama",
        *(no_repack if exact else []),
        "",
        f"llm = Llama(model_path={run['model_path']!r}, n_ctx={run.get('n_ctx') or 4096}, "
        f"{kv}flash_attn={mode.flash_attn}, swa_full=True, seed={seed}, verbose=False)",
        f"prompt = {run['prompt']!r}",
        f"tokens = llm.tokenize(prompt.encode('utf-8'), add_bos={bool(params.get('add_bos', True))}, "
        f"special={bool(params.get('special', False))})",
        note,
        "out = llm.create_completion(",
        "    tokens,",
        f"    max_tokens={params.get('max_tokens', 128)},",
        f"    temperature={params.get('temperature', 0.8)},",
        f"    top_k={params.get('top_k', 40)},",
        f"    top_p={params.get('top_p', 0.95)},",
        f"    min_p={params.get('min_p', 0.05)},",
        f"    repeat_penalty={params.get('repeat_penalty', 1.0)},",
        f"    stop={list(params.get('stop') or [])!r},",
        f"    seed={seed},",
        ")",
        'print(out["choices"][0]["text"])',
    ]
    return "\n".join(lines) + "\n"


def curl_command(run: dict[str, Any], sample: int = 0, server: str = DEFAULT_SERVER) -> str:
    params = run["params"]
    body = {
        "model": run["model"],
        "prompt": run["prompt"],
        "max_tokens": params.get("max_tokens", 128),
        "temperature": params.get("temperature", 0.8),
        "top_k": params.get("top_k", 40),
        "top_p": params.get("top_p", 0.95),
        "min_p": params.get("min_p", 0.05),
        "repeat_penalty": params.get("repeat_penalty", 1.0),
        "stop": list(params.get("stop") or []),
        "seed": _sample(run, sample).get("seed", params.get("seed")),
        "logprobs": params.get("top_logprobs", 5) or None,
    }
    payload = json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)
    return (
        f"curl {shlex.quote(server.rstrip('/') + '/v1/completions')} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(payload)}\n"
    )
