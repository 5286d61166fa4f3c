"""Fixtures shared by the tests: a project folder with a clean REDRAFT_* environment, and one
calibration folder for the whole session."""

import pytest
from helpers.cli_env import isolate_env

from redraft_cli import engine_access


@pytest.fixture(scope="session", autouse=True)
def session_cache_home(tmp_path_factory):
    """Per-machine calibrations go to a folder of this session (subprocesses inherit it), so
    tests never touch the user's cache and measure each model once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture
def project_env() -> dict[str, str]:
    """REDRAFT_* variables `project` sets once the others are removed; a module may override."""
    return {}


@pytest.fixture
def project_files() -> dict[str, str]:
    """Files (name: text) `project` writes into the project folder; a module may override."""
    return {}


@pytest.fixture
def project(tmp_path, monkeypatch, project_env, project_files):
    """`tmp_path` as the working directory, with only `project_env`'s REDRAFT_* variables set
    and `project_files` written into it."""
    isolate_env(monkeypatch, project_env)
    monkeypatch.chdir(tmp_path)
    for name, text in project_files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.fixture
def model_loads(monkeypatch):
    """Counts model loads; `forbid()` makes any further load fail the test."""
    calls = []
    real = engine_access.load_engine

    def counting(*args, **kwargs):
        if calls and calls[-1] == "forbidden":
            raise AssertionError("the model was loaded for an unchanged target")
        calls.append("load")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_access, "load_engine", counting)

    class Loads:
        def count(self):
            return calls.count("load")

        def forbid(self):
            calls.append("forbidden")

        def allow(self):
            if calls and calls[-1] == "forbidden":
                calls.pop()

    return Loads()
