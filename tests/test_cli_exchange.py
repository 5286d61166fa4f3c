"""redraft_cli/exchange.py on real files: renameat2's swap and no-replace rename, and the
switch that makes redraft act as on a system without them."""

from __future__ import annotations

import sys

import pytest

from redraft_cli.exchange import rename_exchange, rename_noreplace

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux's")


def test_exchange_swaps_the_contents_of_two_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A")
    b.write_text("B")
    assert rename_exchange(a, b) is True
    assert (a.read_text(), b.read_text()) == ("B", "A")


def test_exchange_needs_both_files(tmp_path):
    (tmp_path / "a").write_text("A")
    with pytest.raises(FileNotFoundError):
        rename_exchange(tmp_path / "a", tmp_path / "missing")
    assert (tmp_path / "a").read_text() == "A"


def test_noreplace_renames_to_a_free_name_and_refuses_an_existing_file(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    a.write_text("A")
    b.write_text("B")
    with pytest.raises(FileExistsError):
        rename_noreplace(a, b)
    assert (a.read_text(), b.read_text()) == ("A", "B")
    assert rename_noreplace(a, c) is True
    assert not a.exists() and c.read_text() == "A"


def test_the_test_switch_acts_as_a_system_without_the_call(tmp_path, monkeypatch):
    monkeypatch.setenv("REDRAFT_NO_RENAME_EXCHANGE", "1")
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A")
    b.write_text("B")
    assert rename_exchange(a, b) is False
    assert rename_noreplace(a, tmp_path / "c") is False
    assert (a.read_text(), b.read_text()) == ("A", "B") and not (tmp_path / "c").exists()
