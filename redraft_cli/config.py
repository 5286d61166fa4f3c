"""Settings and targets from flags, REDRAFT_* variables, redraft.toml and [tool.redraft].

Precedence, highest first: command-line flags, a target's own keys (for that target),
REDRAFT_* environment variables, redraft.toml, [tool.redraft] in pyproject.toml, defaults.
Every resolved value remembers where it came from, so `redraft config` can say so.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redraft_engine import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_N_CTX,
    PROMPT_REUSE_MODES,
    RULE_NAMES,
    default_calibration_dir,
    parse_flash_attn,
    parse_gpu_layers,
)

from .errors import ConfigError
from .tasks import BUILTIN_TASKS, Task, TaskError, custom_task

REDRAFT_TOML = "redraft.toml"
PYPROJECT = "pyproject.toml"
ENV_PREFIX = "REDRAFT_"
MIN_N_CTX = 256

DEFAULT = "default"
PYPROJECT_SOURCE = "pyproject.toml [tool.redraft]"
TOML_SOURCE = REDRAFT_TOML
_RANKS = {DEFAULT: 0, PYPROJECT_SOURCE: 1, TOML_SOURCE: 2}

# prompt_reuse "auto" is blend in watch, which confirms every blended answer over an exact
# prefill as soon as it is idle, and exact where an answer is final when written (run, bench).
AUTO = "auto"
PROMPT_REUSE_CHOICES = (AUTO, *PROMPT_REUSE_MODES)
WATCH_PROMPT_REUSE = "blend"
FINAL_PROMPT_REUSE = "exact"


def _rank(source: str) -> int:
    if source.startswith("flag "):
        return 5
    if source.startswith("target "):
        return 4
    if source.startswith("env "):
        return 3
    return _RANKS[source]


# --- value parsers: each takes a raw value (TOML value or string) and returns the typed one ---

def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, got {raw!r}")
    return raw


def _positive_int(raw: Any) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise ValueError(f"must be a positive integer, got {raw!r}")
    return raw


def _context_size(raw: Any) -> int:
    value = _positive_int(raw)
    # llama.cpp rounds smaller contexts up to 256 but keeps the batch at the requested size,
    # and then aborts the process on a longer prompt; refuse them here instead.
    if value < MIN_N_CTX:
        raise ValueError(f"must be at least {MIN_N_CTX}, got {raw!r}")
    return value


def _seconds(raw: Any) -> float:
    try:
        value = float(raw) if not isinstance(raw, bool) else -1.0
    except (TypeError, ValueError):
        value = -1.0
    if value < 0:
        raise ValueError(f"must be a number of seconds >= 0, got {raw!r}")
    return value


def _rule(raw: Any) -> str:
    if raw not in RULE_NAMES:
        raise ValueError(f"must be one of {', '.join(RULE_NAMES)}, got {raw!r}")
    return raw


def _prompt_reuse(raw: Any) -> str:
    if raw not in PROMPT_REUSE_CHOICES:
        raise ValueError(f"must be one of {', '.join(PROMPT_REUSE_CHOICES)}, got {raw!r}")
    return raw


def _port(raw: Any) -> int:
    value = _positive_int(raw)
    if value > 65535:
        raise ValueError(f"must be a TCP port (1-65535), got {raw!r}")
    return value


def _key_hashes(raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"must be SHA-256 hex digests (a list or comma-separated), got {raw!r}")
    digests = tuple(str(item).strip().lower() for item in items if str(item).strip())
    for digest in digests:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"must be SHA-256 hex digests (64 hex digits each; print one with "
                             f"redraft serve --hash-key), got {digest!r}")
    return digests


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 10**3, "kib": 1 << 10, "m": 1 << 20, "mb": 10**6,
          "mib": 1 << 20, "g": 1 << 30, "gb": 10**9, "gib": 1 << 30}


def parse_size(raw: Any) -> int:
    """Bytes from an integer or a string such as '1GiB', '500 MB', '0'."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", raw if isinstance(raw, str) else "")
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"must be a size such as 1GiB or 500MB, got {raw!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


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
TABLE_KEYS = ("targets", "tasks")
TARGET_KEYS = ("source", "output")


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str


@dataclass(frozen=True)
class Settings:
    """Resolved values, each with its source."""

    items: Mapping[str, Setting]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.items[name].value
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self.items[name].source

    def with_prompt_reuse(self, auto: str) -> Settings:
        """These settings with prompt_reuse "auto" read as `auto`, the mode of the command
        that asks; an explicit "exact" or "blend" stays."""
        item = self.items["prompt_reuse"]
        if item.value != AUTO:
            return self
        return Settings({**self.items, "prompt_reuse": Setting(auto, item.source)})

    def layered(self, values: Mapping[str, Any], source: str) -> Settings:
        """These settings with `values` applied where `source` outranks the current source."""
        items = dict(self.items)
        for name, value in values.items():
            if value is not None and _rank(source) >= _rank(items[name].source):
                items[name] = Setting(value, source)
        return Settings(items)


@dataclass(frozen=True)
class Target:
    """One [[targets]] entry: answer `source` with its task and write the answer to `output`."""

    label: str
    source: Path
    output: Path | None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    root: Path
    files: tuple[Path, ...]
    settings: Settings
    targets: tuple[Target, ...]
    tasks: Mapping[str, Task]

    def settings_for(self, target: Target) -> Settings:
        """Settings of one target: its own keys over the globals; flags still win."""
        return self.settings.layered(target.options, target.label)

    def task(self, settings: Settings) -> Task:
        """The task `settings` name; a prompt template wins unless the task name outranks it."""
        if settings.prompt and _rank(settings.source("prompt")) >= _rank(settings.source("task")):
            return custom_task(settings.prompt)
        task = self.tasks.get(settings.task)
        if task is None:
            known = ", ".join(sorted(self.tasks))
            raise TaskError(f"unknown task {settings.task!r}: use one of {known}, "
                            "or --prompt '...{document}...'")
        return task

    @property
    def cache_dir(self) -> Path:
        return _resolve(self.root, self.settings.cache_dir)


def _resolve(base: Path, value: str | os.PathLike[str]) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding redraft.toml or pyproject.toml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / REDRAFT_TOML).exists() or (folder / PYPROJECT).is_file():
            return folder
    return start


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start}); "
                          "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file; rename it") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def _parse_value(key: Key, raw: Any, where: str, base: Path | None) -> Any:
    try:
        value = key.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if key.is_path and base is not None and value is not None:
        value = str(_resolve(base, value))
    return value


def _parse_table(table: Mapping[str, Any], origin: str, base: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in table.items():
        if name in TABLE_KEYS:
            continue
        key = KEYS.get(name)
        if key is None:
            raise ConfigError(f"{origin}: unknown key {name!r} (known: {', '.join(KEYS)})")
        values[name] = _parse_value(key, raw, f"{origin}: key {name!r}", base)
    return values


def _parse_tasks(raw: Any, origin: str) -> dict[str, Task]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: key 'tasks' must be a table of name = \"template\"")
    tasks = {}
    for name, template in raw.items():
        if not isinstance(template, str):
            raise ConfigError(f"{origin}: key 'tasks.{name}' must be a template string")
        try:
            tasks[name] = custom_task(template, name)
        except TaskError as exc:
            raise ConfigError(f"{origin}: key 'tasks.{name}': {exc}") from None
    return tasks


def _parse_targets(raw: Any, origin: str, base: Path) -> list[Target]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(f"{origin}: key 'targets' must be an array of tables ([[targets]])")
    targets = []
    for i, table in enumerate(raw):
        where = f"{origin}: targets[{i}]"
        for name in TARGET_KEYS:
            if name not in table:
                raise ConfigError(f"{where}: key {name!r} is required (a file path)")
            if not isinstance(table[name], str) or not table[name]:
                raise ConfigError(f"{where}: key {name!r} must be a file path (a non-empty "
                                  f"string), got {table[name]!r}")
        options = {}
        for name, value in table.items():
            if name in TARGET_KEYS:
                continue
            key = KEYS.get(name)
            if key is None or not key.per_target:
                allowed = ", ".join([*TARGET_KEYS, *(k for k in KEYS if KEYS[k].per_target)])
                raise ConfigError(f"{where}: unknown key {name!r} (allowed: {allowed})")
            options[name] = _parse_value(key, value, f"{where}: key {name!r}", base)
        source = _resolve(base, table["source"])
        output = _resolve(base, table["output"])
        if output.resolve() == source.resolve():
            raise ConfigError(f"{where}: 'output' must differ from 'source'")
        targets.append(Target(f"target {table['source']}", source, output, options))
    _check_outputs(targets, origin)
    return targets


def _check_outputs(targets: list[Target], origin: str) -> None:
    """Two targets writing one file would overwrite each other forever; an output that another
    target reads would make that target's answer depend on the order of the run."""
    writers: dict[Path, Target] = {}
    for target in targets:
        assert target.output is not None
        out = target.output.resolve()
        if out in writers:
            raise ConfigError(f"{origin}: {writers[out].label} and {target.label} both write "
                              f"{target.output}; give each target its own output")
        writers[out] = target
    for target in targets:
        reader = writers.get(target.source.resolve())
        if reader is not None:
            raise ConfigError(f"{origin}: {reader.label} writes {reader.output}, which "
                              f"{target.label} reads as its source; chain them through "
                              "separate files")


def load_config(
    cwd: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Read the config files above `cwd`, the environment and `flags` into one Config."""
    cwd = Path.cwd() if cwd is None else cwd
    env = os.environ if env is None else env
    root = find_root(cwd)
    settings = Settings({name: Setting(k.default_value(), DEFAULT) for name, k in KEYS.items()})
    files: list[Path] = []
    tasks = dict(BUILTIN_TASKS)
    targets: list[Target] = []

    layers: list[tuple[Path, dict[str, Any], str]] = []
    pyproject = root / PYPROJECT
    if pyproject.is_file():
        tool = _read_toml(pyproject).get("tool", {}).get("redraft")
        if tool is not None:
            if not isinstance(tool, dict):
                raise ConfigError(f"{pyproject}: [tool.redraft] must be a table")
            layers.append((pyproject, tool, PYPROJECT_SOURCE))
    toml = root / REDRAFT_TOML
    if toml.exists():
        layers.append((toml, _read_toml(toml), TOML_SOURCE))

    for path, table, source in layers:
        files.append(path)
        settings = settings.layered(_parse_table(table, str(path), root), source)
        if "tasks" in table:
            tasks.update(_parse_tasks(table["tasks"], str(path)))
        if "targets" in table:
            # The higher-precedence file's targets replace the lower one's, rather than merging.
            targets = _parse_targets(table["targets"], str(path), root)

    for name, key in KEYS.items():
        raw = env.get(key.env)
        if raw:
            value = _parse_value(key, raw, f"environment variable {key.env}", cwd)
            settings = settings.layered({name: value}, f"env {key.env}")

    if flags:
        parsed = {}
        for name, raw in flags.items():
            if raw is not None:
                option = "--" + name.replace("_", "-")
                parsed[name] = _parse_value(KEYS[name], raw, f"option {option}", cwd)
        settings = _apply_flags(settings, parsed)
    return Config(root, tuple(files), settings, tuple(targets), tasks)


def _apply_flags(settings: Settings, flags: Mapping[str, Any]) -> Settings:
    for name, value in flags.items():
        settings = settings.layered({name: value}, f"flag --{name.replace('_', '-')}")
    return settings
