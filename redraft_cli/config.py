"""Settings and targets from flags, REDRAFT_* variables, redraft.toml and [tool.redraft].

Precedence, highest first: command-line flags, a target's own keys (for that target),
REDRAFT_* environment variables, redraft.toml, [tool.redraft] in pyproject.toml, defaults.
Every resolved value remembers where it came from, so `redraft config` can say so.
The settings themselves are listed in config_keys.py (KEYS), their value parsers in
config_values.py; this module resolves them into a Config with its targets and tasks.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config_keys import KEYS, Key
from .config_values import AUTO
from .errors import ConfigError
from .tasks import BUILTIN_TASKS, Task, TaskError, custom_task

REDRAFT_TOML = "redraft.toml"
PYPROJECT = "pyproject.toml"
TABLE_KEYS = ("targets", "tasks")
TARGET_KEYS = ("source", "output")

DEFAULT = "default"
PYPROJECT_SOURCE = "pyproject.toml [tool.redraft]"
TOML_SOURCE = REDRAFT_TOML
_RANKS = {DEFAULT: 0, PYPROJECT_SOURCE: 1, TOML_SOURCE: 2}


def _rank(source: str) -> int:
    if source.startswith("flag "):
        return 5
    if source.startswith("target "):
        return 4
    if source.startswith("env "):
        return 3
    return _RANKS[source]


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
