"""A 900-token service log and the report task of the stability test (a double space near the
end of the document must not rewrite the report)."""

from __future__ import annotations

REPORT_TASK = "Write a detailed report of the following log, section by section.\n\n"

_SERVICES = ("auth", "billing", "search", "upload", "mailer", "gateway")
_EVENTS = (
    "request latency p95 rose to {n} ms after the deploy of build {b}",
    "cache hit rate fell to {p} percent while the index was rebuilt",
    "worker {w} restarted after running out of memory at {n} MB",
    "queue depth reached {n} messages; consumers were scaled to {w}",
    "certificate for host {w}.internal renewed, valid for {p} days",
    "retry storm from client {w} throttled at {n} requests per second",
)


def service_log() -> str:
    """Six sections of timestamped lines, about 900 tokens for SmolLM2's tokenizer."""
    lines = []
    minute = 0
    for s, service in enumerate(_SERVICES):
        lines.append(f"== Section {s + 1}: {service} service ==")
        for k in range(5):
            minute += 7
            event = _EVENTS[(s + k) % len(_EVENTS)].format(
                n=120 + 37 * (s * 5 + k), b=f"{4000 + 13 * s + k}", p=40 + 3 * k + s, w=k + 2
            )
            lines.append(f"[{10 + minute // 60:02d}:{minute % 60:02d}] {service}: {event}.")
        lines.append("")
    return "\n".join(lines)


def double_space_near_end(text: str, from_end: int = 20) -> str:
    """The same text with its `from_end`-th last space doubled (about 130 characters from the
    end of `service_log()`)."""
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    at = spaces[-from_end]
    return text[:at] + " " + text[at:]
