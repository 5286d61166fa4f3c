"""`redraft bench` input validation: every bad case file is one line naming file and field."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from redraft_cli.bench import register
from redraft_cli.bench.cases import load_suite
from redraft_cli.tasks import BUILTIN_TASKS

GOOD = {
    "id": "doc-a", "category": "doc_summary", "task": "summarize",
    "before": "The bridge opens on March 14.", "after": "The bridge opens on April 3.",
    "expect": ["April 3"], "forbid": ["March 14"], "edit": "date-change", "canary": True,
}
FACT = {
    "id": "fact-a", "category": "fact_answer", "task": "answer", "question": "When?",
    "before": "It opens in May.", "after": "It opens in June.", "expect": [], "forbid": [],
}


def make_app() -> click.Group:
    app = click.Group("redraft")  # a group keeps `bench` a subcommand, as in the real app
    register(app)
    return app


def write(folder: Path, name: str, content: object) -> Path:
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def bench(*args: str):
    return CliRunner().invoke(make_app(), ["bench", *args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_good_files_load_with_extra_keys(tmp_path):
    write(tmp_path, "a.json", [GOOD])
    write(tmp_path, "b.json", [FACT])
    write(tmp_path, "notes.txt", "not a case file")
    cases = load_suite(tmp_path)
    assert [c.id for c in cases] == ["doc-a", "fact-a"]
    assert cases[0].expect == ("April 3",) and cases[0].forbid == ("March 14",)
    assert cases[0].extra == {"edit": "date-change", "canary": True}
    assert cases[1].question == "When?"


def test_a_single_file_is_a_suite(tmp_path):
    path = write(tmp_path, "a.json", [GOOD, FACT])
    assert len(load_suite(path)) == 2


def test_filter_matches_ids_and_categories(tmp_path):
    write(tmp_path, "a.json", [GOOD, FACT])
    assert [c.id for c in load_suite(tmp_path, ["fact-*"])] == ["fact-a"]
    assert [c.id for c in load_suite(tmp_path, ["doc_summary"])] == ["doc-a"]


def test_prompts_use_builtin_tasks_or_custom_instructions(tmp_path):
    custom = dict(GOOD, id="c1", task="List the dates.")
    placed = dict(GOOD, id="c2", task="Text:\n{document}\nList the dates.")
    write(tmp_path, "a.json", [GOOD, FACT, custom, placed])
    by_id = {c.id: c for c in load_suite(tmp_path)}
    assert by_id["doc-a"].prompt("D") == BUILTIN_TASKS["summarize"].render("D")
    assert by_id["fact-a"].prompt("D") == BUILTIN_TASKS["answer"].render("D", "When?")
    assert by_id["c1"].prompt("D") == "List the dates.\n\nD"
    assert by_id["c2"].prompt("D") == "Text:\nD\nList the dates."


def drop(case: dict, key: str) -> dict:
    return {k: v for k, v in case.items() if k != key}


BAD_CASES = [
    pytest.param(drop(GOOD, "id"), "'id'", id="missing-id"),
    pytest.param(drop(GOOD, "category"), "'category'", id="missing-category"),
    pytest.param(drop(GOOD, "task"), "'task'", id="missing-task"),
    pytest.param(drop(GOOD, "before"), "'before'", id="missing-before"),
    pytest.param(drop(GOOD, "after"), "'after'", id="missing-after"),
    pytest.param(drop(GOOD, "expect"), "'expect'", id="missing-expect"),
    pytest.param(drop(GOOD, "forbid"), "'forbid'", id="missing-forbid"),
    pytest.param(drop(FACT, "question"), "'question'", id="fact-without-question"),
    pytest.param(dict(FACT, question=7), "'question'", id="question-not-string"),
    pytest.param(dict(GOOD, id=3), "'id'", id="id-not-string"),
    pytest.param(dict(GOOD, category="poetry"), "'category'", id="unknown-category"),
    pytest.param(dict(GOOD, before="   "), "'before'", id="empty-before"),
    pytest.param(dict(GOOD, after=None), "'after'", id="null-after"),
    pytest.param(dict(GOOD, expect="April 3"), "'expect'", id="expect-not-list"),
    pytest.param(dict(GOOD, forbid=["x", 2]), "'forbid'", id="forbid-entry-not-string"),
    pytest.param(dict(GOOD, forbid=[""]), "'forbid'", id="forbid-entry-empty"),
]


@pytest.mark.parametrize("case,field", BAD_CASES)
def test_bad_case_is_one_line_naming_file_and_field(tmp_path, case, field):
    write(tmp_path, "good.json", [FACT])
    write(tmp_path, "bad.json", [GOOD | {"id": "doc-ok"}, case])
    assert_one_line_error(bench(str(tmp_path)), "bad.json", field)


@pytest.mark.parametrize("content,fragment", [
    pytest.param("[{\"id\": ", "not valid JSON", id="broken-json"),
    pytest.param({"id": "x"}, "JSON list", id="not-a-list"),
    pytest.param(["just a string"], "case #1", id="case-not-object"),
    pytest.param(b"\xff\xfe".decode("latin-1"), "not valid JSON", id="garbage"),
])
def test_bad_file_is_one_line_naming_the_file(tmp_path, content, fragment):
    write(tmp_path, "bad.json", content)
    assert_one_line_error(bench(str(tmp_path)), "bad.json", fragment)


def test_duplicate_id_across_files_names_both(tmp_path):
    write(tmp_path, "a.json", [GOOD])
    write(tmp_path, "b.json", [GOOD])
    assert_one_line_error(bench(str(tmp_path)), "b.json", "'id'", "duplicate", "a.json")


def test_empty_and_missing_folders(tmp_path):
    assert_one_line_error(bench(str(tmp_path)), "no *.json case files")
    assert_one_line_error(bench(str(tmp_path / "nope")), "nope", "no such")


def test_filter_matching_nothing(tmp_path):
    write(tmp_path, "a.json", [GOOD])
    assert_one_line_error(bench(str(tmp_path), "--filter", "zzz*"), "--filter", "zzz*")


def test_bad_plot_suffix_fails_before_loading_the_model(tmp_path):
    write(tmp_path, "a.json", [GOOD])
    assert_one_line_error(bench(str(tmp_path), "--plot", str(tmp_path / "p.pdf")), ".png or .svg")


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    write(tmp_path, "a.json", [GOOD])
    result = bench(str(tmp_path), "--plot", str(tmp_path / "p.png"))
    assert_one_line_error(result, "matplotlib", "redraft[plot]")


def test_json_into_a_missing_folder_fails_early(tmp_path):
    write(tmp_path, "a.json", [GOOD])
    result = bench(str(tmp_path), "--json", str(tmp_path / "no" / "out.json"))
    assert_one_line_error(result, "--json", "does not exist")


def test_several_filters_select_the_union(tmp_path):
    write(tmp_path, "a.json", [GOOD, FACT, dict(GOOD, id="doc-b")])
    assert [c.id for c in load_suite(tmp_path, ["fact-*", "doc-b"])] == ["fact-a", "doc-b"]
