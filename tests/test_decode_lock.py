"""Two processes take turns decoding: the machine-wide decode lock (no model needed)."""

from __future__ import annotations

import subprocess
import sys
import threading

from redraft_engine.decode_lock import decode_turn

HOLDER = """
import sys
from pathlib import Path
from redraft_engine.decode_lock import decode_turn
with decode_turn(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def enter_in_thread(path):
    entered = threading.Event()

    def enter():
        with decode_turn(path):
            entered.set()

    threading.Thread(target=enter, daemon=True).start()
    return entered


def test_a_second_process_waits_for_its_turn(tmp_path):
    lock = tmp_path / "decode.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        waiting = enter_in_thread(lock)
        assert not waiting.wait(0.5)  # the other process is decoding
        free = enter_in_thread(None)  # control: without the lock nobody waits
        assert free.wait(10)
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert waiting.wait(10)  # its turn comes once the holder is done
    finally:
        holder.kill()
        holder.wait()


def test_an_unusable_lock_folder_does_not_stop_decoding(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with decode_turn(blocker / "decode.lock"):  # a folder that cannot exist
        pass
