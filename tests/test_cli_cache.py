"""The .redraft/ cache: layout, corrupt files, the LRU bound, locks, and the cache commands."""

import errno
import json
import os
import shutil
import stat
import struct
import time

import pytest
from click.testing import CliRunner
from helpers.cli_env import lock_held_elsewhere
from redraft_engine import Stats

from redraft_cli.atomic import atomic_write_text
from redraft_cli.cache import Cache
from redraft_cli.cache_files import CacheError, cache_io, read_cache_file
from redraft_cli.cache_format import LAYOUT, Entry, entry_key
from redraft_cli.errors import LockTimeout
from redraft_cli.locking import exclusive_lock
from redraft_cli.main import app
from redraft_cli.outcome import Mode
from redraft_cli.outputs import write_output

runner = CliRunner()


def entry(key="k" * 32, answer="An answer."):
    return Entry(
        key=key, source="doc.md", source_sha256="0" * 64, task="summarize", template="{document}",
        settings={"max_tokens": 8}, model="m", prompt="p", prompt_tokens=[1, 2], answer=answer,
        answer_tokens=[3, 4], stats=Stats(emitted=2), mode=Mode.FRESH,
    )


@pytest.fixture
def warnings():
    return []


@pytest.fixture
def cache(tmp_path, warnings):
    return Cache(tmp_path / ".redraft", max_size=1 << 20, warn=warnings.append)


def test_layout_tag_and_gitignore(cache):
    saved = entry()
    cache.save_entry(saved)
    assert (cache.path / "CACHEDIR.TAG").read_text().startswith(
        "Signature: 8a477f597d28d172789f06886806bc55"
    )
    assert (cache.path / ".gitignore").read_text() == "*\n"
    assert (cache.path / LAYOUT / "entries" / f"{'k' * 32}.json").is_file()
    assert cache.load_entry("k" * 32) == saved


def test_key_depends_on_every_component():
    base = dict(model="m", template="t {document}", settings={"max_tokens": 8}, source="a.md")
    keys = {entry_key(**base)}
    for name, other in [("model", "m2"), ("template", "u {document}"),
                        ("settings", {"max_tokens": 9}), ("source", "b.md")]:
        keys.add(entry_key(**{**base, name: other}))
    assert len(keys) == 5


def test_corrupt_entry_is_reported_once_then_regenerated(cache, warnings):
    cache.save_entry(entry())
    path = cache.base / "entries" / f"{'k' * 32}.json"
    path.write_text('{"key": "truncated')
    assert cache.load_entry("k" * 32) is None
    assert len(warnings) == 1 and str(path) in warnings[0]
    assert cache.load_entry("k" * 32) is None
    assert len(warnings) == 1
    cache.save_entry(entry())
    assert cache.load_entry("k" * 32) is not None


def test_entry_with_wrong_types_is_corrupt(cache, warnings):
    cache.ensure()
    bad = {**entry().to_json(), "answer_tokens": "not a list"}
    (cache.base / "entries" / f"{'k' * 32}.json").write_text(json.dumps(bad))
    assert cache.load_entry("k" * 32) is None
    assert "wrong type" in warnings[0]


def test_state_round_trip_and_corrupt_state(cache, warnings):
    assert cache.save_state("a" * 32, "m", [1, 2, 3], b"\x01" * 100)
    assert cache.load_state("a" * 32, "m") == ([1, 2, 3], b"\x01" * 100, [])
    assert cache.save_state("b" * 32, "m", [1, 2, 3], b"\x01", approximate=[(1, 3)])
    assert cache.load_state("b" * 32, "m") == ([1, 2, 3], b"\x01", [(1, 3)])
    assert cache.load_state("a" * 32, "other-model") is None  # a state never crosses models
    assert len(warnings) == 1
    assert cache.save_state("a" * 32, "m", [1], b"\x02" * 10)
    (cache.base / "states" / f"{'a' * 32}.kv").write_bytes(b"RDKV1\0garbage")
    assert cache.load_state("a" * 32, "m") is None
    assert len(warnings) == 2
    bad_range = b'{"key": "%s", "model": "m", "tokens": [1], "approximate": [[0, 5]]}'
    for header in (b"[1, 2]", b'{"key": "%s", "model": "m", "tokens": ["x"]}' % (b"a" * 32),
                   bad_range % (b"a" * 32)):
        blob = b"RDKV1\0" + struct.pack("<I", len(header)) + header + b"\x01"
        (cache.base / "states" / f"{'a' * 32}.kv").write_bytes(blob)
        assert cache.load_state("a" * 32, "m") is None  # reported and dropped, never fatal
    assert len(warnings) == 5


def test_atomic_writes_keep_the_permissions_of_the_file_they_replace(tmp_path):
    target = tmp_path / "answer.md"
    target.write_text("old\n")
    target.chmod(0o640)
    atomic_write_text(target, "new\n", label="test")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.md"
    atomic_write_text(fresh, "x", label="test")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answer.md", "fresh.md"]


def test_total_size_is_bounded_least_recently_used_first(tmp_path):
    cache = Cache(tmp_path / ".redraft", max_size=2500, warn=print)
    for name in "abc":
        assert cache.save_state(name * 32, "m", [1], bytes(900))
        time.sleep(0.01)  # distinct mtimes order the LRU
    # Saving c pushed the total over 2500 bytes: a, the least recently used, went.
    assert cache.load_state("a" * 32, "m") is None
    assert cache.load_state("b" * 32, "m") is not None  # b is now the most recently used
    time.sleep(0.01)
    assert cache.save_state("d" * 32, "m", [1], bytes(900))
    assert cache.load_state("c" * 32, "m") is None
    assert cache.load_state("b" * 32, "m") is not None
    assert cache.info()["size_bytes"] <= 2500
    assert not cache.save_state("e" * 32, "m", [1], bytes(5000))  # alone over the bound


def test_lock_held_by_another_process_times_out_clearly(tmp_path):
    lock = tmp_path / "t.lock"
    with lock_held_elsewhere(lock):
        with pytest.raises(LockTimeout, match="another redraft process is working on doc.md"):
            with exclusive_lock(lock, timeout=0.3, what="doc.md"):
                pass
    with exclusive_lock(lock, timeout=5, what="doc.md"):
        pass  # released when its holder died


def test_cache_info_and_clear_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDRAFT_CACHE_DIR", raising=False)
    result = runner.invoke(app, ["cache", "info"])
    assert result.exit_code == 0 and "no cache yet" in result.stdout
    cache = Cache(tmp_path / ".redraft", max_size=1 << 30, warn=print)
    cache.save_entry(entry())
    cache.save_state("k" * 32, "m", [1], b"x" * 10)
    write_output(cache, tmp_path / "out.md", "answer\n", force=False)
    info = json.loads(runner.invoke(app, ["cache", "info", "--json"]).stdout)
    assert (info["entries"], info["states"], info["outputs"]) == (1, 1, 1)
    assert info["path"] == str(tmp_path / ".redraft")
    result = runner.invoke(app, ["cache", "clear"])
    assert result.exit_code == 0 and "removed 2 files" in result.stdout
    info = json.loads(runner.invoke(app, ["cache", "info", "--json"]).stdout)
    assert (info["entries"], info["states"], info["outputs"]) == (0, 0, 1)
    assert runner.invoke(app, ["cache", "clear", "--all"]).exit_code == 0
    # The record of an existing output survives: it is what tells a hand edit from our own.
    assert json.loads(runner.invoke(app, ["cache", "info", "--json"]).stdout)["outputs"] == 1
    (tmp_path / "out.md").unlink()
    assert runner.invoke(app, ["cache", "clear", "--all"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["cache", "info", "--json"]).stdout)["outputs"] == 0
    assert os.path.isfile(tmp_path / ".redraft" / "CACHEDIR.TAG")


def test_an_emptied_tag_or_gitignore_is_restored(cache):
    cache.ensure()
    (cache.path / "CACHEDIR.TAG").write_text("")
    (cache.path / ".gitignore").write_text("")
    cache = Cache(cache.path, max_size=1 << 20, warn=print)  # the next command
    cache.ensure()
    assert (cache.path / "CACHEDIR.TAG").read_text().startswith("Signature: ")
    assert (cache.path / ".gitignore").read_text() == "*\n"


@pytest.mark.parametrize("damage", ["entry-is-folder", "lock-is-folder", "states-is-file",
                                    "layout-is-file", "tag-is-folder"])
def test_damage_inside_the_cache_folder_is_rebuilt(cache, warnings, damage):
    key = "k" * 32
    cache.save_entry(entry())
    if damage == "entry-is-folder":
        path = cache.base / "entries" / f"{key}.json"
        path.unlink()
        path.mkdir()
        assert cache.load_entry(key) is None  # reported once, removed, regenerated
    elif damage == "lock-is-folder":
        (cache.base / "locks" / f"{key}.lock").mkdir(parents=True)
    elif damage == "states-is-file":
        shutil.rmtree(cache.base / "states")
        (cache.base / "states").write_text("x")
    elif damage == "layout-is-file":
        shutil.rmtree(cache.base)
        cache.base.write_text("x")
    else:
        (cache.path / "CACHEDIR.TAG").unlink()
        (cache.path / "CACHEDIR.TAG").mkdir()
    cache = Cache(cache.path, max_size=1 << 20, warn=warnings.append)  # the next command
    with cache.lock(key, timeout=1, what="doc.md"):
        cache.save_entry(entry())
        assert cache.save_state(key, "m", [1], b"x")
    assert cache.load_entry(key) is not None
    assert len(warnings) == 1  # one line says what was rebuilt


def test_a_cache_folder_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / ".redraft").write_text("my notes")
    cache = Cache(tmp_path / ".redraft", max_size=1 << 20, warn=print)
    with pytest.raises(CacheError, match="is a file; move it away"):
        cache.ensure()
    assert (tmp_path / ".redraft").read_text() == "my notes"


def test_temporaries_of_interrupted_entry_and_state_writes_are_swept(cache):
    key = "k" * 32
    cache.save_entry(entry())
    stale = [cache.base / "entries" / f".{key}.json.a1b2c3d4.tmp",
             cache.base / "states" / f".{key}.kv.e5f6g7h8.tmp"]
    other = cache.base / "states" / f".{'j' * 32}.kv.i9j0k1l2.tmp"
    for path in [*stale, other]:
        path.write_bytes(b"half")
    cache.sweep_temporaries(key)
    assert not any(p.exists() for p in stale) and other.exists()


def test_clear_removes_stale_temporaries_but_not_a_write_in_progress(cache):
    cache.ensure()
    old = cache.base / "states" / f".{'k' * 32}.kv.a1b2c3d4.tmp"
    young = cache.base / "entries" / f".{'k' * 32}.json.e5f6g7h8.tmp"
    for path in (old, young):
        path.write_bytes(b"half")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    cache.clear()
    assert not old.exists() and young.exists()


def test_margins_round_trip_and_an_old_layout_entry_loads_without_them(cache):
    with_margins = entry()
    with_margins.answer_margins = [0.25, -1.5]
    cache.save_entry(with_margins)
    assert cache.load_entry("k" * 32).answer_margins == [0.25, -1.5]

    # An entry written by the previous layout (v1: no margins field, its own folder).
    old = entry(key="o" * 32).to_json()
    del old["answer_margins"]
    v1 = cache.path / "v1" / "entries"
    v1.mkdir(parents=True)
    (v1 / f"{'o' * 32}.json").write_text(json.dumps(old))
    loaded = cache.load_entry("o" * 32)
    assert loaded is not None and loaded.answer_margins is None
    assert loaded.answer_tokens == [3, 4]
    # Writes go to the current layout, which then wins over the old file.
    loaded.answer = "Rewritten."
    cache.save_entry(loaded)
    assert (cache.path / LAYOUT / "entries" / f"{'o' * 32}.json").is_file()
    assert cache.load_entry("o" * 32).answer == "Rewritten."
    # Clearing answers clears the previous layout's too, or they would come back.
    assert cache.clear() >= 3
    assert cache.load_entry("o" * 32) is None


def test_margins_that_do_not_match_the_answer_are_corrupt(cache, warnings):
    bad = entry().to_json()
    bad["answer_margins"] = [0.5]  # two answer tokens
    path = cache.path / LAYOUT / "entries" / f"{'k' * 32}.json"
    cache.ensure()
    path.write_text(json.dumps(bad))
    assert cache.load_entry("k" * 32) is None
    assert len(warnings) == 1 and "one number per answer token" in warnings[0]


ELSEWHERE = "set cache_dir (REDRAFT_CACHE_DIR)"
CLEAR = "fix it or remove the cache folder (redraft cache clear --all), then run again"


@pytest.mark.parametrize("code, fix", [
    (errno.EROFS, f"make it writable, or {ELSEWHERE} to a writable folder"),
    (errno.EACCES, f"make it writable, or {ELSEWHERE} to a writable folder"),
    (errno.EPERM, f"make it writable, or {ELSEWHERE} to a writable folder"),
    (errno.ENOSPC, f"free some space, or {ELSEWHERE} to a folder on a disk with room"),
    (errno.EDQUOT, f"free some space, or {ELSEWHERE} to a folder on a disk with room"),
    (errno.EIO, CLEAR),  # the control: what clearing the cache may fix
], ids=errno.errorcode.get)
def test_a_cache_write_error_gives_the_fix_for_its_cause(tmp_path, code, fix):
    where = tmp_path / ".redraft" / "v2" / "entries" / "k.json"
    with pytest.raises(CacheError) as raised, cache_io(tmp_path):
        raise OSError(code, os.strerror(code), str(where))
    assert str(raised.value) == f"cache path {where}: {os.strerror(code)}; {fix}"


@pytest.mark.parametrize("code, fix", [
    (errno.EACCES, f"make it readable, or {ELSEWHERE} to another folder"),
    (errno.EIO, "fix its permissions, or remove the cache folder (redraft cache clear --all)"),
], ids=errno.errorcode.get)
def test_a_cache_read_error_gives_the_fix_for_its_cause(tmp_path, monkeypatch, code, fix):
    path = tmp_path / "entry.json"
    path.write_text("{}")

    def refuse(self):
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(type(path), "read_bytes", refuse)
    with pytest.raises(CacheError) as raised:
        read_cache_file(path)
    assert str(raised.value) == f"cache file {path}: {os.strerror(code)}; {fix}"
