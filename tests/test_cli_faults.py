"""Fault injection on `redraft run` with the real default model: a kill at every write point
(SIGKILL and SIGINT), a hand edit saved while the answer is generated or while the output is
replaced, a KV state that does not load, a disk that fills up while the KV state is saved.

Faults are injected with REDRAFT_CRASH_AT (see redraft_cli/faults.py): no strace, no root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.cli_env import without_redraft_vars

from redraft_cli.faults import CRASH_POINTS

pytestmark = [pytest.mark.model, pytest.mark.slow]

DOC = (
    "Release notes. The library reopens on March 14 after a renovation. Maria Okafor leads "
    "the new children's wing, and the maker space opens a week later.\n"
)
EDITED = DOC.replace("March 14", "April 3")
ENV = {"REDRAFT_MAX_TOKENS": "16"}
CONFIG = '[[targets]]\nsource = "doc.md"\ntask = "summarize"\noutput = "doc.sum.md"\n'


PATCHED_CLI = Path(__file__).parent / "helpers" / "patched_cli.py"


def redraft(cwd: Path, *args: str, crash: str | None = None,
            patches: str = "") -> subprocess.CompletedProcess:
    """`redraft run ARGS` in `cwd`; `patches`: test-only patches (helpers/patched_cli.py)."""
    env = without_redraft_vars(ENV | ({"REDRAFT_CRASH_AT": crash} if crash else {})
                               | {"REDRAFT_TEST_PATCHES": patches})
    cli = [str(PATCHED_CLI)] if patches else ["-m", "redraft_cli"]
    return subprocess.run([sys.executable, *cli, "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def temporaries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))


def stored_answer(root: Path) -> str:
    (entry,) = (root / ".redraft" / "v2" / "entries").glob("*.json")
    return json.loads(entry.read_text())["answer"].strip() + "\n"


@pytest.fixture(scope="module")
def answered(tmp_path_factory) -> Path:
    """A project whose target was answered once for DOC (one model run, copied per test)."""
    root = tmp_path_factory.mktemp("answered")
    (root / "redraft.toml").write_text(CONFIG)
    (root / "doc.md").write_text(DOC)
    first = redraft(root)
    assert first.returncode == 0, first.stderr
    return root


@pytest.fixture
def edited(answered, tmp_path) -> Path:
    """A copy of the answered project whose document was then edited."""
    root = tmp_path / "project"
    shutil.copytree(answered, root)
    (root / "doc.md").write_text(EDITED)
    return root


@pytest.mark.parametrize("signame", ["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_run_killed_at_any_write_point_loses_nothing_and_recovers(edited, point, signame):
    old = (edited / "doc.sum.md").read_text()
    killed = redraft(edited, crash=f"{point}@{signame}")
    assert killed.returncode == (-signal.SIGKILL if signame == "SIGKILL" else 130), killed.stderr

    after_kill = (edited / "doc.sum.md").read_text()
    recovered = redraft(edited)
    assert recovered.returncode == 0, recovered.stderr  # never a hand-edit refusal
    new = (edited / "doc.sum.md").read_text()
    assert after_kill in (old, new)  # the old output or the complete new one, never a part
    assert new == stored_answer(edited)
    assert temporaries(edited) == []
    settled = redraft(edited)
    assert settled.returncode == 0 and "unchanged" in settled.stderr


def run_with_hand_edit_at(root: Path, point: str, extra_env: dict[str, str] | None = None,
                          ) -> tuple[subprocess.Popen, str]:
    """`redraft run` paused at crash point `point` while "MY HAND EDIT" is appended to the
    output; returns the finished process and its stderr."""
    env = without_redraft_vars(ENV | {"REDRAFT_CRASH_AT": f"{point}@SIGSTOP"}
                               | (extra_env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "redraft_cli", "run"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_stopped(proc.pid)
        with (root / "doc.sum.md").open("a") as f:
            f.write("MY HAND EDIT\n")
        os.kill(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc, err


def test_a_hand_edit_saved_during_generation_is_never_overwritten(edited):
    proc, err = run_with_hand_edit_at(edited, "answer:ready")
    assert proc.returncode == 2, err
    assert "was edited since redraft last wrote it" in err
    assert "MY HAND EDIT" in (edited / "doc.sum.md").read_text()
    forced = redraft(edited, "--force")  # control: with the protection off the edit is lost
    assert forced.returncode == 0
    assert "MY HAND EDIT" not in (edited / "doc.sum.md").read_text()


def wait_until_stopped(pid: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.05)
    pytest.fail("redraft run never reached its REDRAFT_CRASH_AT point")


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "control-without"])
def test_a_hand_edit_saved_while_the_output_is_replaced_is_never_overwritten(edited, exchange):
    """Stopped after the last hand-edit check and before the new file is put in place."""
    proc, err = run_with_hand_edit_at(
        edited, "output:tmp-synced", {} if exchange else {"REDRAFT_NO_RENAME_EXCHANGE": "1"})
    kept = "MY HAND EDIT" in (edited / "doc.sum.md").read_text()
    if exchange:
        assert proc.returncode == 2, err
        assert "doc.sum.md was edited while redraft was writing it" in err
        assert "Traceback" not in err
        assert kept
        assert "was edited since redraft last wrote it" in redraft(edited).stderr  # still kept
    else:  # the check alone, then a plain rename: the edit saved in between is lost
        assert proc.returncode == 0, err
        assert not kept
    assert temporaries(edited) == []


def test_a_kv_state_that_does_not_load_is_reported_and_recomputed(edited):
    (state,) = (edited / ".redraft" / "v2" / "states").glob("*.kv")
    raw = state.read_bytes()
    state.write_bytes(raw[: len(raw) // 2] + b"\0" * (len(raw) - len(raw) // 2))
    result = redraft(edited, "--json")
    assert result.returncode == 0, result.stderr
    assert "did not load; the prompt will be recomputed" in result.stderr
    (target,) = json.loads(result.stdout)["targets"]
    assert target["mode"] == "redraft" and target["stats"]["prompt_reused"] == 0
    assert (edited / "doc.sum.md").read_text() == stored_answer(edited)


def _damage(path: Path, how: str) -> None:
    if how == "to-file":
        shutil.rmtree(path)
        path.write_text("not a folder")
    elif how == "to-folder":
        path.unlink()
        path.mkdir()
    elif how == "truncate":
        path.write_bytes(b"")
    else:  # randomise
        path.write_bytes(os.urandom(max(64, path.stat().st_size)))


CACHE_FILES = ["CACHEDIR.TAG", ".gitignore", "v2/entries/*.json", "v2/states/*.kv",
               "v2/outputs/*.json", "v2/locks/*.lock"]
CACHE_FOLDERS = ["v2", "v2/entries", "v2/states", "v2/outputs", "v2/locks"]
DAMAGE = ([(f, how) for f in CACHE_FILES for how in ("truncate", "randomise", "to-folder")]
          + [(d, "to-file") for d in CACHE_FOLDERS])


@pytest.mark.parametrize("edit", [False, True], ids=["same-source", "edited-source"])
@pytest.mark.parametrize("where,how", DAMAGE, ids=[f"{w}-{h}" for w, h in DAMAGE])
def test_a_damaged_cache_is_never_an_internal_error(answered, tmp_path, where, how, edit):
    root = tmp_path / "project"
    shutil.copytree(answered, root)
    target = sorted((root / ".redraft").glob(where))[0]  # e.g. the target's lock, not the output's
    _damage(target, how)
    if edit:
        (root / "doc.md").write_text(EDITED)
    first = redraft(root)
    assert first.returncode in (0, 1, 2), first.stderr
    assert "Traceback" not in first.stderr and "internal error" not in first.stderr
    assert len(first.stderr.splitlines()) <= 3, first.stderr  # a warning, and the target line
    second = redraft(root)
    if where == "v2":
        # Every answer and every record of what was written are gone, and the output does
        # not prove itself: redraft refuses to guess and says how to go on.
        assert second.returncode == 2 and "has no record of writing it" in second.stderr
        assert "pass --force to replace it" in second.stderr
        assert redraft(root, "--force").returncode == 0
        second = redraft(root)
    assert second.returncode == 0 and "unchanged" in second.stderr, second.stderr
    assert (root / "doc.sum.md").read_text() == stored_answer(root)


def test_a_cache_folder_that_is_a_file_is_refused_with_one_line(answered, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(answered, root)
    shutil.rmtree(root / ".redraft")
    (root / ".redraft").write_text("someone's notes")
    result = redraft(root)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"redraft: error: the cache folder {root / '.redraft'} is a file; move it away, or set "
        "cache_dir to another folder"
    ]
    assert (root / ".redraft").read_text() == "someone's notes"


def start(cwd: Path, *args: str, command: str = "run") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "redraft_cli", command, *args], cwd=cwd,
                            env=without_redraft_vars(ENV | {"REDRAFT_DEBOUNCE_MS": "50"}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_runs_of_one_target_started_together_agree(edited):
    first, second = start(edited), start(edited)
    results = [(p.wait(timeout=300), p.stderr.read()) for p in (first, second)]
    assert [code for code, _ in results] == [0, 0], results
    # one answers, one finds it done
    assert sorted(": unchanged" in err for _, err in results) == [False, True], results
    assert (edited / "doc.sum.md").read_text() == stored_answer(edited)
    assert temporaries(edited) == []


@pytest.mark.parametrize("full_at", ["entries", "doc.sum.md", "states"],
                         ids=["entry", "output", "kv-state"])
def test_a_full_disk_is_one_line_and_loses_nothing(edited, full_at, monkeypatch):
    """A full disk stops the run with exit 2 naming the file; for the optional KV state it is
    a warning, since the answer was delivered."""
    from click.testing import CliRunner

    from redraft_cli import atomic
    from redraft_cli.main import app

    real = atomic._atomic_write_bytes

    def full(path, data, **kw):
        if full_at in Path(path).parts:
            raise OSError(28, "No space left on device", str(path))
        return real(path, data, **kw)

    monkeypatch.setattr(atomic, "_atomic_write_bytes", full)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(edited)
    old = (edited / "doc.sum.md").read_text()
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == (0 if full_at == "states" else 2), result.output
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr
    monkeypatch.undo()
    written = (edited / "doc.sum.md").read_text()
    assert (written == old) == (full_at == "doc.sum.md")
    assert redraft(edited).returncode == 0  # once there is space again, all is well
    assert redraft(edited).returncode == 0
    assert temporaries(edited) == []


def test_a_tiny_file_system_for_the_cache(edited, tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip() or 'not root'}); the "
                    "monkeypatched ENOSPC test covers the same paths")
    try:
        # Room for answers and records, not for a KV state (about 2 MB here).
        cache = mount / "cache"
        shutil.copytree(edited / ".redraft", cache, ignore=shutil.ignore_patterns("*.kv"))
        config = edited / "redraft.toml"
        config.write_text(f'cache_dir = "{cache}"\n' + config.read_text())
        result = redraft(edited)
        assert result.returncode == 0, result.stderr
        assert "was not saved (No space left on device)" in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert redraft(edited).returncode == 0
        assert not list(mount.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


# --- Ctrl-C at any moment, model load included -------------------------------------------


def test_ctrl_c_inside_the_model_load_stops_the_run_and_writes_nothing(edited):
    """A SIGINT that arrives while llama.cpp calls back into Python (its log, as the model
    file loads) stops the run; control: with Python's own SIGINT handling there, the
    KeyboardInterrupt is raised inside the ctypes callback, dropped, and the run goes on."""
    old = (edited / "doc.sum.md").read_text()
    stopped = redraft(edited, patches="sigint-in-model-load")
    assert stopped.returncode == 130, stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1] == "redraft: interrupted"
    assert "Exception ignored" not in stopped.stderr
    assert (edited / "doc.sum.md").read_text() == old and temporaries(edited) == []

    lost = redraft(edited, patches="sigint-in-model-load,no-deferred-interrupts")
    assert "Exception ignored" in lost.stderr and lost.returncode == 0
    assert (edited / "doc.sum.md").read_text() != old  # the run finished as if not stopped


def test_ctrl_c_inside_the_model_load_stops_watch_too(edited):
    env = without_redraft_vars(ENV | {"REDRAFT_TEST_PATCHES": "sigint-in-model-load"})
    watch = subprocess.run(
        [sys.executable, str(PATCHED_CLI), "watch", "doc.md", "--task", "summarize", "--json"],
        cwd=edited, env=env, capture_output=True, text=True, timeout=300)
    assert watch.returncode == 130, watch.stderr
    assert json.loads(watch.stdout.splitlines()[-1])["exit_code"] == 130
    assert "Exception ignored" not in watch.stderr


def wait_for_redrafts_own_code(pid: int, timeout: float = 10) -> None:
    """Until the CLI's imports have begun (its json module is mapped): a Ctrl-C in the
    interpreter's own start-up before that is Python's, not redraft's, to answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "_json" in Path(f"/proc/{pid}/maps").read_text():
                return
        except OSError:
            return  # already gone
        time.sleep(0.002)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6])
def test_ctrl_c_at_spread_moments_exits_130_and_loses_nothing(edited, delay):
    old = (edited / "doc.sum.md").read_text()
    proc = start(edited)
    wait_for_redrafts_own_code(proc.pid)
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    print(f"SIGINT {delay} s after the CLI's imports began: "
          f"{'sent' if running else 'run already over'}, exit {proc.returncode}")
    # 0 where the run ended between the look and the signal
    assert proc.returncode in ((130, 0) if running else (0,)), err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert (edited / "doc.sum.md").read_text() in (old, stored_answer(edited))
    assert temporaries(edited) == []
    recovered = redraft(edited)
    assert recovered.returncode == 0, recovered.stderr
    assert (edited / "doc.sum.md").read_text() == stored_answer(edited)


# --- token ids from the cache are checked before they reach llama.cpp ---------------------


def _n_vocab() -> int:
    from helpers.models import smollm_path
    from redraft_engine.llama_model import LlamaModel

    model = LlamaModel(smollm_path())
    try:
        return model.n_vocab
    finally:
        model.close()


def _set_entry_token(root: Path, value: int) -> None:
    (path,) = (root / ".redraft" / "v2" / "entries").glob("*.json")
    entry = json.loads(path.read_text())
    entry["answer_tokens"][0] = value
    path.write_text(json.dumps(entry))


@pytest.mark.parametrize("bad", ["vocabulary-size", "negative"])
def test_an_entry_with_token_ids_outside_the_vocabulary_is_regenerated(edited, bad):
    _set_entry_token(edited, _n_vocab() if bad == "vocabulary-size" else -1)
    first = redraft(edited)
    assert first.returncode == 0, first.stderr
    assert "outside this model's vocabulary" in first.stderr
    assert "it will be regenerated" in first.stderr and "Traceback" not in first.stderr
    assert (edited / "doc.sum.md").read_text() == stored_answer(edited)
    assert redraft(edited).returncode == 0
    (entry,) = (edited / ".redraft" / "v2" / "entries").glob("*.json")
    assert json.loads(entry.read_text())["mode"] == "fresh"


def test_control_an_unchecked_token_id_aborts_llama_cpp(edited):
    _set_entry_token(edited, _n_vocab())
    crashed = redraft(edited, patches="no-token-check")
    assert crashed.returncode == -signal.SIGABRT, crashed.stderr


def test_a_kv_state_whose_tokens_lie_outside_the_vocabulary_is_recomputed(edited):
    (state,) = (edited / ".redraft" / "v2" / "states").glob("*.kv")
    raw = state.read_bytes()
    magic = b"RDKV1\0"
    (n,) = struct.unpack_from("<I", raw, len(magic))
    header = json.loads(raw[len(magic) + 4 : len(magic) + 4 + n])
    header["tokens"][-1] = _n_vocab() + 5
    blob = json.dumps(header).encode()
    state.write_bytes(magic + struct.pack("<I", len(blob)) + blob + raw[len(magic) + 4 + n :])
    result = redraft(edited, "--json")
    assert result.returncode == 0, result.stderr
    assert "did not load; the prompt will be recomputed" in result.stderr
    (target,) = json.loads(result.stdout)["targets"]
    assert target["stats"]["prompt_reused"] == 0
