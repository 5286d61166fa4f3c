"""Measures the batched-versus-serial logit noise of a model (see noise.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .messages import as_messages
from .noise import PERCENTILE, NoiseEstimate
from .replay import decision_margin

if TYPE_CHECKING:
    from .kv_session import KVSession

PROBE_ANSWER_TOKENS = 96
PROBE_WINDOWS = (16, 64)
PROBE_DOCUMENT = (
    "Incident 4127, storage cluster B. At 02:14 the primary controller reported rising write "
    "latency on three volumes. The on-call engineer paused the nightly compaction at 02:31, "
    "which brought latency back under 40 ms within ten minutes. At 03:05 a disk in shelf 7 "
    "was marked failed and the rebuild started on the spare; it finished at 05:52 without data "
    "loss. The root cause was a firmware fault that made the disk retry reads silently before "
    "it failed. Follow-ups: update the firmware on all shelves, alert on read retries, and "
    "move compaction to a window with lower traffic. The customer-facing impact was slower "
    "uploads for about forty minutes; no request failed."
)


def measure_noise(session: KVSession) -> NoiseEstimate:
    """Write a short answer serially, replay it in windows, and compare the margins."""
    model = session.model
    text = model.render_chat(as_messages("Summarize this incident report.\n\n" + PROBE_DOCUMENT))
    prompt = model.tokenize(text, special=True)
    n_answer = min(PROBE_ANSWER_TOKENS, session.n_ctx - len(prompt) - 1)
    if n_answer < 8:
        raise ValueError("the context is too small to measure the logit noise")
    eog = sorted(model.eog)
    session.clear()
    row = np.array(session.feed(prompt, all_logits=False, phase="other")[0])
    answer: list[int] = []
    serial: list[float] = []
    for _ in range(n_answer):
        row[eog] = -np.inf  # keep writing: the probe needs tokens, not a finished answer
        token = int(row.argmax())
        serial.append(decision_margin(row, token))
        answer.append(token)
        row = np.array(session.feed([token], all_logits=False, phase="other")[0])
    changes: list[float] = []
    for size in PROBE_WINDOWS:
        size = min(size, session.n_batch)
        session.truncate(len(prompt))
        for start in range(0, n_answer - 1, size):
            fed = answer[start : start + size]
            rows = session.feed(fed, all_logits=True, phase="other")
            for i in range(len(fed) - 1):
                k = start + i + 1
                rows[i][eog] = -np.inf
                changes.append(abs(decision_margin(rows[i], answer[k]) - serial[k]))
    session.clear()
    values = np.array(changes)
    return NoiseEstimate(float(np.percentile(values, PERCENTILE)), float(values.max()),
                         len(changes))
