"""Config precedence, malformed config, and the `config` command (no model)."""

import json

import pytest
from click.testing import CliRunner

from redraft_cli.config import load_config
from redraft_cli.config_values import FINAL_PROMPT_REUSE, WATCH_PROMPT_REUSE, parse_size
from redraft_cli.errors import ConfigError
from redraft_cli.main import app

runner = CliRunner()


def test_precedence_flags_env_toml_pyproject_defaults(project):
    (project / "pyproject.toml").write_text(
        "[tool.redraft]\nmax_tokens = 11\nrule = 'exact'\nn_ctx = 1000\ndebounce_ms = 70\n"
    )
    (project / "redraft.toml").write_text("max_tokens = 22\nrule = 'tolerant'\nn_ctx = 2000\n")
    env = {"REDRAFT_MAX_TOKENS": "33", "REDRAFT_RULE": "exact"}
    config = load_config(project, flags={"max_tokens": 44}, env=env)
    s = config.settings
    assert (s.max_tokens, s.source("max_tokens")) == (44, "flag --max-tokens")
    assert (s.rule, s.source("rule")) == ("exact", "env REDRAFT_RULE")
    assert (s.n_ctx, s.source("n_ctx")) == (2000, "redraft.toml")
    assert (s.debounce_ms, s.source("debounce_ms")) == (70, "pyproject.toml [tool.redraft]")
    assert (s.lock_timeout, s.source("lock_timeout")) == (120.0, "default")


def test_prompt_reuse_auto_is_blend_in_watch_and_exact_in_run(project):
    settings = load_config(project, env={}).settings
    assert (settings.prompt_reuse, settings.source("prompt_reuse")) == ("auto", "default")
    assert settings.with_prompt_reuse(WATCH_PROMPT_REUSE).prompt_reuse == "blend"
    assert settings.with_prompt_reuse(FINAL_PROMPT_REUSE).prompt_reuse == "exact"
    for chosen in ("exact", "blend"):  # a mode the user set stays, in every command
        explicit = load_config(project, env={"REDRAFT_PROMPT_REUSE": chosen}).settings
        for auto in (WATCH_PROMPT_REUSE, FINAL_PROMPT_REUSE):
            resolved = explicit.with_prompt_reuse(auto)
            assert resolved.prompt_reuse == chosen
            assert resolved.source("prompt_reuse") == "env REDRAFT_PROMPT_REUSE"
    with pytest.raises(ConfigError, match="auto, exact, blend, got 'fast'"):
        load_config(project, env={"REDRAFT_PROMPT_REUSE": "fast"})


def test_target_keys_override_globals_but_not_flags(project):
    (project / "redraft.toml").write_text(
        "max_tokens = 22\ntask = 'review'\n"
        "[[targets]]\nsource = 'a.md'\noutput = 'a.out'\ntask = 'summarize'\nmax_tokens = 5\n"
    )
    config = load_config(project, env={"REDRAFT_MAX_TOKENS": "33"})
    target_settings = config.settings_for(config.targets[0])
    assert target_settings.max_tokens == 5
    assert config.task(target_settings).name == "summarize"
    flagged = load_config(project, flags={"max_tokens": 7}, env={})
    assert flagged.settings_for(flagged.targets[0]).max_tokens == 7


def test_custom_tasks_and_prompt_from_config(project):
    (project / "redraft.toml").write_text(
        "prompt = 'Translate to French:\\n{document}'\n[tasks]\nshout = 'SHOUT {document}'\n"
    )
    config = load_config(project, env={})
    assert config.task(config.settings).name == "custom"
    flagged = load_config(project, flags={"task": "shout"}, env={})
    assert flagged.task(flagged.settings).template == "SHOUT {document}"


@pytest.mark.parametrize(
    "text, named",
    [
        ("max_tokens = 'many'\n", "max_tokens"),
        ("max_tokenz = 3\n", "max_tokenz"),
        ("rule = 'loose'\n", "rule"),
        ("n_ctx = 64\n", "n_ctx"),
        ("cache_max_size = 'huge'\n", "cache_max_size"),
        ("[[targets]]\nsource = 'a.md'\n", "output"),
        ("[[targets]]\nsource = 'a.md'\noutput = 'b'\ncolour = 1\n", "colour"),
        ("[tasks]\nx = 'no placeholder'\n", "tasks.x"),
        ("max_tokens = [\n", "invalid TOML"),
        ("[[targets]]\nsource = 5\noutput = 'b'\n", "'source' must be a file path"),
        ("[[targets]]\nsource = 'a.md'\noutput = 'o.md'\n"
         "[[targets]]\nsource = 'b.md'\noutput = 'o.md'\n", "and target b.md both write"),
        ("[[targets]]\nsource = 'a.md'\noutput = 'b.md'\n"
         "[[targets]]\nsource = 'b.md'\noutput = 'c.md'\n", "which target b.md reads"),
    ],
)
def test_malformed_config_names_the_key(project, text, named):
    (project / "redraft.toml").write_text(text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(project, env={})
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_env_names_the_variable(project):
    with pytest.raises(ConfigError, match="REDRAFT_N_CTX"):
        load_config(project, env={"REDRAFT_N_CTX": "-4"})


def test_config_command_prints_values_and_sources(project, monkeypatch):
    (project / "redraft.toml").write_text("max_tokens = 22\n")
    monkeypatch.setenv("REDRAFT_RULE", "exact")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert lines["max_tokens"][1:] == ["22", "redraft.toml"]
    assert lines["rule"][1:] == ["exact", "env", "REDRAFT_RULE"]
    as_json = json.loads(runner.invoke(app, ["config", "--json"]).stdout)
    assert as_json["settings"]["max_tokens"] == {"value": 22, "source": "redraft.toml"}
    assert as_json["root"] == str(project)


def test_config_found_in_a_parent_folder(project):
    (project / "redraft.toml").write_text("max_tokens = 9\n")
    sub = project / "a" / "b"
    sub.mkdir(parents=True)
    config = load_config(sub, env={})
    assert config.root == project
    assert config.cache_dir == project / ".redraft"


def test_parse_size():
    assert parse_size("1GiB") == 1 << 30
    assert parse_size("500 MB") == 500_000_000
    assert parse_size(0) == 0
    with pytest.raises(ValueError):
        parse_size("-3")


def test_a_question_is_inserted_as_text_not_as_a_template():
    from redraft_cli.tasks import BUILTIN_TASKS

    prompt = BUILTIN_TASKS["answer"].render("DOC BODY", "What does {document} mean?")
    assert "What does {document} mean?" in prompt
    assert prompt.count("DOC BODY") == 1


def test_a_config_that_is_not_utf8_names_the_byte(project):
    (project / "redraft.toml").write_bytes(b"max_tokens = 12 # caf\xe9\n")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert "redraft.toml: not UTF-8 text (invalid byte at offset 21)" in result.stderr


def test_a_config_that_is_a_folder_is_an_error_not_ignored(project):
    (project / "redraft.toml").mkdir()
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_config_shows_the_calibration_folder_and_clear_all_empties_it(project, tmp_path):
    folder = tmp_path / "calibrations"
    folder.mkdir()
    (folder / "calibration-cost3-abc.json").write_text("{}")
    (folder / ".calibration-cost3-abc.json.x1.tmp").write_text("")
    (folder / "someone-elses.json").write_text("{}")
    (project / "redraft.toml").write_text(f"calibration_dir = {str(folder)!r}\n")
    assert "near-tie noise: not measured yet" in runner.invoke(app, ["config"]).stdout
    noise = {"noise": 0.37, "max_change": 0.47, "samples": 184, "percentile": 99.0}
    (folder / "calibration-noise1-abc-t2.json").write_text(json.dumps(noise))
    shown = runner.invoke(app, ["config", "--json"])
    setting = json.loads(shown.stdout)["settings"]["calibration_dir"]
    assert setting == {"value": str(folder), "source": "redraft.toml"}
    assert json.loads(shown.stdout)["noise"] == [{"calibration": "abc-t2", **noise}]
    assert "near-tie noise: 0.37 logits for calibration abc-t2" in runner.invoke(
        app, ["config"]).stdout
    assert runner.invoke(app, ["cache", "clear"]).exit_code == 0
    assert len(list(folder.iterdir())) == 4  # only --all touches calibrations
    result = runner.invoke(app, ["cache", "clear", "--all"])
    assert "removed 3 calibration files" in result.stdout
    assert [p.name for p in folder.iterdir()] == ["someone-elses.json"]
