"""Which prompt tokens a blended prefill keeps from the old KV cache, and which it decodes.

Exact prefix reuse ends at the first changed token. A blend also keeps the old KV of the
unchanged runs after an edit, moved to their new positions, and decodes the rest: the edited
spans, the first `bridge` tokens of each kept run (they attended to the old text right before
them), and the last `tail` tokens of the prompt (instruction, question and chat template, which
decide the first answer tokens). Kept runs after an edit are approximate: their KV was computed
under another prefix. A state's approximate ranges are never kept a second time; they are
decoded again like edited spans, so the approximation never compounds.

Pure: token lists in, a plan out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

Span = tuple[int, int]  # [start, end) token positions


@dataclass(frozen=True)
class Keep:
    """Old cache cells [old_start, old_start + length) move to new_start (same tokens)."""

    old_start: int
    new_start: int
    length: int

    @property
    def new_end(self) -> int:
        return self.new_start + self.length

    @property
    def shift(self) -> int:
        return self.new_start - self.old_start


@dataclass(frozen=True)
class BlendPlan:
    """The new prompt as: an exact prefix, then kept runs and decoded spans, in order.

    `decode` spans and `keep` runs partition [prefix, n_tokens) of the new prompt.
    """

    n_tokens: int
    prefix: int
    keep: tuple[Keep, ...]
    decode: tuple[Span, ...]

    @property
    def shifted(self) -> int:
        """Prompt tokens whose KV is reused at a new position (approximate)."""
        return sum(k.length for k in self.keep)

    @property
    def recomputed(self) -> int:
        return sum(end - start for start, end in self.decode)

    @property
    def approximate(self) -> tuple[Span, ...]:
        """The new-prompt ranges whose KV this plan leaves approximate."""
        return tuple((k.new_start, k.new_end) for k in self.keep)


def _masked(cached: Sequence[int], approximate: Sequence[Span]) -> list[int]:
    """`cached` with every approximate position replaced by a token id nothing can match."""
    out = list(cached)
    for start, end in approximate:
        for i in range(max(0, start), min(end, len(out))):
            out[i] = -1 - i
    return out


def plan_blend(
    cached: Sequence[int],
    new: Sequence[int],
    *,
    approximate: Sequence[Span] = (),
    bridge: int,
    tail: int,
    min_keep: int,
) -> BlendPlan:
    """Plan the prefill of `new` over a cache holding `cached` (whose `approximate` ranges
    must not be reused again).

    A kept run is what remains of a matching block of at least `min_keep` tokens once its first
    `bridge` tokens and anything within the last `tail` tokens of `new` are cut off; shorter
    runs are decoded. At least the last token of `new` is always decoded. Where nothing
    differs before the tail, the plan is exact prefix reuse (no kept runs).
    """
    if bridge < 0 or tail < 1 or min_keep < 1:
        raise ValueError("bridge must be >= 0, tail >= 1 and min_keep >= 1")
    old = _masked(cached, approximate)
    n = len(new)
    limit = max(0, n - tail)
    prefix = 0
    for a, b in zip(old, new[: n - 1]):
        if a != b:
            break
        prefix += 1
    if prefix >= limit:  # no edit before the tail: this is exact prefix reuse
        return BlendPlan(n_tokens=n, prefix=prefix, keep=(), decode=((prefix, n),) if n else ())
    keep: list[Keep] = []
    matcher = SequenceMatcher(None, old[prefix:], list(new[prefix:limit]), autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        start, end = b + bridge, b + size
        if end - start >= min_keep:
            keep.append(Keep(prefix + a + bridge, prefix + start, end - start))
    decode: list[Span] = []
    pos = prefix
    for k in keep:
        if k.new_start > pos:
            decode.append((pos, k.new_start))
        pos = k.new_end
    if pos < n:
        decode.append((pos, n))
    return BlendPlan(n_tokens=n, prefix=prefix, keep=tuple(keep), decode=tuple(decode))


def approximate_share(spans: Sequence[Span], n_tokens: int) -> float:
    """The fraction of `n_tokens` positions that `spans` cover."""
    if n_tokens <= 0:
        return 0.0
    covered = sum(max(0, min(end, n_tokens) - max(start, 0)) for start, end in spans)
    return covered / n_tokens
