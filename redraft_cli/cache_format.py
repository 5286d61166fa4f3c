"""What the `.redraft/` cache holds on disk: its layout, the keys, and the file formats.

The layout's version (LAYOUT, and PREVIOUS_LAYOUT that is still read) and its folders; the
domain-tagged hashes that name entries and output records (tagged_hash, entry_key); an entry,
the last complete answer of one key, as JSON (Entry); and a KV state file (pack_state,
unpack_state): a magic number, the length of a JSON header naming its key, model, tokens and
approximate ranges, then llama.cpp's state bytes. Parsers raise ValueError (or KeyError,
struct.error) on a malformed file; cache.py reports and deletes it.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from redraft_engine import Stats

from .outcome import Mode

LAYOUT = "v2"
PREVIOUS_LAYOUT = "v1"
KEY_SCHEME = "v1"  # keys are unchanged since v1, so the previous layout's files are found
_STATE_MAGIC = b"RDKV1\0"
SUBFOLDERS = ("entries", "states", "outputs", "locks")
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by redraft.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def tagged_hash(tag: str, fields: dict[str, Any]) -> str:
    """A hash of `fields` under a domain tag, so keys of different kinds can never collide."""
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"redraft/{KEY_SCHEME}/{tag}\0{payload}".encode()).hexdigest()[:32]


def entry_key(*, model: str, template: str, settings: dict[str, Any], source: str) -> str:
    """Key of a target's entry: model fingerprint, task template, answer settings, source path."""
    return tagged_hash(
        "entry", {"model": model, "template": template, "settings": settings, "source": source}
    )


@dataclass
class Entry:
    """The last complete answer for one key."""

    key: str
    source: str
    source_sha256: str
    task: str
    template: str
    settings: dict[str, Any]
    model: str
    prompt: str
    prompt_tokens: list[int]
    answer: str
    answer_tokens: list[int]
    stats: Stats
    mode: Mode
    created: float = field(default_factory=time.time)
    answer_margins: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields(self)}
        doc["stats"] = self.stats.to_dict()
        doc["mode"] = self.mode.value
        return doc

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        """Parse an entry; ValueError if a field is missing or has the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        checks: dict[str, type | tuple[type, ...]] = {
            "key": str, "source": str, "source_sha256": str, "task": str, "template": str,
            "settings": dict, "model": str, "prompt": str, "prompt_tokens": list, "answer": str,
            "answer_tokens": list, "stats": dict, "mode": str, "created": (int, float),
        }
        for name, kind in checks.items():
            if name not in data:
                raise ValueError(f"field {name!r} is missing")
            if not isinstance(data[name], kind):
                raise ValueError(f"field {name!r} has the wrong type")
        unknown = set(data) - set(checks) - {"answer_margins"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        if not all(isinstance(t, int) for t in data["answer_tokens"] + data["prompt_tokens"]):
            raise ValueError("token lists must hold integers")
        margins = data.get("answer_margins")
        if margins is not None and not (
            isinstance(margins, list) and len(margins) == len(data["answer_tokens"])
            and all(isinstance(m, (int, float)) and not isinstance(m, bool) for m in margins)
        ):
            raise ValueError("answer_margins must be one number per answer token")
        return cls(**{**data, "stats": Stats.from_dict(data["stats"]), "mode": Mode(data["mode"])})


def pack_state(
    key: str, model: str, tokens: list[int], data: bytes,
    approximate: Sequence[tuple[int, int]] = (),
) -> bytes:
    """The KV state file of `key`: its header (key, model, tokens, approximate ranges), then
    the state bytes `data`."""
    header = json.dumps({"key": key, "model": model, "tokens": tokens,
                         "approximate": [list(r) for r in approximate]}).encode()
    return _STATE_MAGIC + struct.pack("<I", len(header)) + header + data


def _ranges(raw: Any, n_tokens: int) -> list[tuple[int, int]]:
    """Approximate ranges [start, end) read from a state header; ValueError if malformed."""
    if not isinstance(raw, list):
        raise ValueError("approximate ranges must be a list")
    out = []
    for item in raw:
        ok = (isinstance(item, list) and len(item) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in item))
        if not ok or not 0 <= item[0] < item[1] <= n_tokens:
            raise ValueError(f"bad approximate range {item!r}")
        out.append((item[0], item[1]))
    return out


def unpack_state(
    raw: bytes, key: str, model: str
) -> tuple[list[int], bytes, list[tuple[int, int]]]:
    """(tokens, state bytes, approximate ranges) of a KV state file of `key` and `model`;
    ValueError, KeyError or struct.error if it is malformed or belongs to another."""
    if not raw.startswith(_STATE_MAGIC):
        raise ValueError("bad header")
    offset = len(_STATE_MAGIC)
    (n,) = struct.unpack_from("<I", raw, offset)
    header = json.loads(raw[offset + 4 : offset + 4 + n])
    data = raw[offset + 4 + n :]
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    if header.get("key") != key or header.get("model") != model:
        raise ValueError("it belongs to another key or model")
    tokens = header["tokens"]
    if not isinstance(tokens, list) or not data:
        raise ValueError("no tokens or no data")
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise ValueError("tokens must be integers")
    approximate = _ranges(header.get("approximate", []), len(tokens))
    return tokens, data, approximate
