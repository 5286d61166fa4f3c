"""Load the edit cases of a suite folder and validate every field before any model work."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redraft_cli.errors import CliError
from redraft_cli.tasks import BUILTIN_TASKS, DOCUMENT, Task, custom_task

CATEGORIES = ("doc_summary", "fact_answer", "code_review")
TEXT_FIELDS = ("id", "task", "before", "after")
LIST_FIELDS = ("expect", "forbid")


class CaseFileError(CliError):
    """A case file or field that cannot be benchmarked (exit code 2)."""


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    task: str
    before: str
    after: str
    expect: tuple[str, ...]
    forbid: tuple[str, ...]
    question: str | None
    source: Path
    extra: dict[str, Any]

    def template(self) -> Task:
        """A built-in task by name; any other `task` is an instruction placed before the text."""
        builtin = BUILTIN_TASKS.get(self.task)
        if builtin is not None:
            return builtin
        if DOCUMENT in self.task:
            return custom_task(self.task, name=self.id)
        return custom_task(self.task + "\n\n" + DOCUMENT, name=self.id)

    def prompt(self, document: str) -> str:
        return self.template().render(document, self.question)


def load_suite(path: Path, patterns: Sequence[str] = ()) -> list[Case]:
    """Every case of the `*.json` files in folder `path` (or of the one file `path`).

    With `patterns`, only the cases that match any of them. Every file is validated in full
    even so, so a broken file is found on the first run, not on the run whose filter reaches it.
    """
    files = _case_files(path)
    cases: list[Case] = []
    seen: dict[str, Path] = {}
    for file in files:
        for case in _load_file(file):
            if case.id in seen:
                raise CaseFileError(
                    f"{file}: case {case.id!r}: field 'id': duplicate id "
                    f"(also in {seen[case.id]})"
                )
            seen[case.id] = file
            cases.append(case)
    if patterns:
        cases = [c for c in cases if any(select(c, p) for p in patterns)]
        if not cases:
            shown = " ".join(f"--filter {p!r}" for p in patterns)
            raise CaseFileError(f"{shown} matches no case id or category in {path}")
    return cases


def select(case: Case, pattern: str) -> bool:
    """`pattern` is a shell glob over case ids, or a category name."""
    return fnmatch.fnmatchcase(case.id, pattern) or fnmatch.fnmatchcase(case.category, pattern)


def _case_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise CaseFileError(f"{path}: no such case folder or file")
    files = sorted(p for p in path.glob("*.json") if p.is_file())
    if not files:
        raise CaseFileError(f"{path}: no *.json case files")
    return files


def _load_file(file: Path) -> list[Case]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CaseFileError(f"{file}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CaseFileError(
            f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except OSError as exc:
        raise CaseFileError(f"{file}: cannot read: {exc.strerror}") from None
    if not isinstance(data, list):
        raise CaseFileError(f"{file}: must hold a JSON list of cases, got {_kind(data)}")
    return [_parse_case(file, i, item) for i, item in enumerate(data)]


def _parse_case(file: Path, index: int, item: Any) -> Case:
    where = f"{file}: case #{index + 1}"
    if not isinstance(item, dict):
        raise CaseFileError(f"{where}: must be a JSON object, got {_kind(item)}")
    if isinstance(item.get("id"), str) and item["id"].strip():
        where = f"{file}: case {item['id']!r}"

    def fail(field: str, problem: str) -> CaseFileError:
        return CaseFileError(f"{where}: field {field!r}: {problem}")

    for field in (*TEXT_FIELDS, "category", *LIST_FIELDS):
        if field not in item:
            raise fail(field, "missing")
    for field in TEXT_FIELDS:
        value = item[field]
        if not isinstance(value, str) or not value.strip():
            raise fail(field, f"must be a non-empty string, got {_kind(value)}")
    if item["category"] not in CATEGORIES:
        raise fail("category", f"must be one of {', '.join(CATEGORIES)}, got {item['category']!r}")
    lists = {}
    for field in LIST_FIELDS:
        value = item[field]
        if not isinstance(value, list):
            raise fail(field, f"must be a list of strings, got {_kind(value)}")
        for entry in value:
            if not isinstance(entry, str) or not entry.strip():
                raise fail(field, f"every entry must be a non-empty string, got {_kind(entry)}")
        lists[field] = tuple(value)
    question = item.get("question")
    asks = item["category"] == "fact_answer" or item["task"] == "answer"
    if asks and (not isinstance(question, str) or not question.strip()):
        raise fail("question", f"{'required' if question is None else 'must be a string'} "
                               "for fact_answer cases and the answer task")
    if question is not None and not isinstance(question, str):
        raise fail("question", f"must be a string, got {_kind(question)}")
    known = {*TEXT_FIELDS, "category", *LIST_FIELDS, "question"}
    return Case(
        id=item["id"], category=item["category"], task=item["task"], before=item["before"],
        after=item["after"], expect=lists["expect"], forbid=lists["forbid"], question=question,
        source=file, extra={k: v for k, v in item.items() if k not in known},
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
