"""The settings redraft knows: one Key per setting, in the KEYS table.

A Key gives a setting's name, its value parser (config_values.py), its default, a one-line
description, its REDRAFT_* variable, whether a [[targets]] entry may set it for itself
(per_target), and whether it is a path (is_path), which config.py resolves against the project
root where a config file sets it and against the working directory where a variable or flag
does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redraft_engine import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_N_CTX,
    RULE_NAMES,
    default_calibration_dir,
    parse_flash_attn,
    parse_gpu_layers,
)

from .config_values import (
    AUTO,
    _context_size,
    _key_hashes,
    _port,
    _positive_int,
    _prompt_reuse,
    _rule,
    _seconds,
    _text,
    parse_size,
)

ENV_PREFIX = "REDRAFT_"


@dataclass(frozen=True)
class Key:
    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    per_target: bool = False
    is_path: bool = False

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def default_value(self) -> Any:
        """The default; a callable default is computed when the config is loaded."""
        return self.default() if callable(self.default) else self.default


KEYS: dict[str, Key] = {k.name: k for k in [
    Key("model", _text, None, "GGUF model file (default: the bundled SmolLM2-135M-Instruct)",
        per_target=True, is_path=True),
    Key("task", _text, "summarize", "task name: summarize, review, answer, or one from [tasks]",
        per_target=True),
    Key("prompt", _text, None, "custom prompt template containing {document}", per_target=True),
    Key("question", _text, None, "the question of the 'answer' task", per_target=True),
    Key("max_tokens", _positive_int, DEFAULT_MAX_TOKENS, "longest answer, in tokens",
        per_target=True),
    Key("rule", _rule, RULE_NAMES[0], "acceptance rule of a redraft: tolerant or exact",
        per_target=True),
    Key("prompt_reuse", _prompt_reuse, AUTO,
        "exact: reuse the KV cache up to the first edited token; blend: also keep the "
        "unchanged text after an edit (approximate, re-decoded by the next blend); auto: "
        "blend in watch (each answer confirmed over an exact prefill when idle), exact in "
        "run and bench"),
    Key("n_ctx", _context_size, DEFAULT_N_CTX, "context window, in tokens"),
    Key("threads", _positive_int, None, "CPU threads (default: all cores)"),
    Key("gpu_layers", parse_gpu_layers, "auto",
        "model layers offloaded to a GPU: a number, all, or auto (all where the installed "
        "llama.cpp has a GPU backend, else 0)"),
    Key("flash_attn", parse_flash_attn, "auto",
        "flash attention: auto (llama.cpp decides per backend), on or off"),
    Key("cache_dir", _text, ".redraft", "cache folder, relative to the project root",
        is_path=True),
    Key("calibration_dir", _text, lambda: str(default_calibration_dir()),
        "per-machine model measurements (window costs), shared by projects", is_path=True),
    Key("cache_max_size", parse_size, 1 << 30, "bound on the cache's total size (LRU)"),
    Key("lock_timeout", _seconds, 120.0, "seconds to wait for another process's target lock"),
    Key("debounce_ms", _positive_int, 50,
        "watch: a save is answered once the file has been quiet this long (ms)"),
    Key("host", _text, "127.0.0.1",
        "serve: address to listen on (other than loopback only with an API key)"),
    Key("port", _port, 8080, "serve: TCP port"),
    Key("api_key_sha256", _key_hashes, (),
        "serve: accepted API keys, as SHA-256 hex digests (comma-separated); "
        "REDRAFT_API_KEY may give one key in clear instead"),
    Key("queue_size", _positive_int, 8,
        "serve: requests that may wait for the engine; more get 429"),
    Key("max_body", parse_size, 1 << 20, "serve: largest request body; larger get 413"),
    Key("prompt_states", _positive_int, 8, "serve: KV states of recent prompts kept (LRU)"),
    Key("prompt_states_size", parse_size, 256 << 20,
        "serve: bound on the bytes of the kept KV states"),
    Key("max_sessions", _positive_int, 64, "serve: document sessions kept (LRU)"),
]}
