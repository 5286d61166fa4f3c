"""Watch's confirmation: an answer given over a blended (approximate) prompt cache,
re-verified over an exact prefill of the same prompt once the watcher is idle."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

from .decode_lock import decode_turn
from .messages import Message, Prompt, as_messages
from .policy import Place
from .result import Draft, Result, Stream
from .rules import AcceptanceRule, rule_by_name
from .spans import TokenEvent

if TYPE_CHECKING:
    from pathlib import Path

    from .kv_session import KVSession

StopCheck = Callable[[], bool]
Answer = Generator[TokenEvent, None, Result]


class Confirmation:
    """The confirmation half of `Engine` (a mixin: it uses the engine's session and runs)."""

    session: KVSession
    decode_lock: Path | None
    start_probation: int

    prompt_tokens: Callable[[Prompt], list[int]]
    _check_tokens: Callable[[str, Sequence[int]], None]
    _run: Callable[..., Answer]
    _exclusive: Callable[[Answer], Answer]

    def make_prompt_exact(self, prompt: Prompt, should_stop: Callable[[], bool]) -> bool:
        """Recompute exactly the part of `prompt` a blend left approximate (see
        `KVSession.make_exact`), checking `should_stop` every 64 tokens. True when the cache
        now holds `prompt` exactly; False when stopped (the cache is then as it was), or when
        the cache holds another prompt, nothing approximate, or has no room for the work."""
        tokens = self.prompt_tokens(prompt)
        with decode_turn(self.decode_lock):
            return self.session.make_exact(tokens, should_stop)

    def stream_confirm(
        self,
        prompt: Prompt,
        shown: Result,
        *,
        edited_from: Prompt | None = None,
        redrafted_from: Result | Draft | None = None,
        rule: str | AcceptanceRule = "tolerant",
        max_tokens: int | None = None,
        should_stop: StopCheck | None = None,
    ) -> Stream:
        """`shown` (an answer to `prompt`) re-verified with `rule` over an exact prefill of
        `prompt`: call after `make_prompt_exact`, when the cache is exact again.

        `edited_from` is the prompt of the answer `shown` was redrafted from. The rule's guards
        then see the user's edit (`edited_from` -> `prompt`), as the redraft's did: a word the
        edit removed or a fact it inserted is re-derived over the exact cache instead of being
        held where the blended cache had let it through. Without it the check is against
        `prompt` alone, and only the edit-independent guards apply. The opening of `shown` was
        decided under the edit already, so a coin flip there (within the noise both times) is
        held, unless ending is within the noise too, where a redraft of an older answer would
        re-derive it.

        `redrafted_from` is that older answer itself (its prompt, when it has one, stands for
        `edited_from`). With it the opening of `shown` is held only where the exact cache
        chooses it too; where it opens otherwise, the opening was the approximate cache's coin
        flip and everything after it followed from that, so the confirmation redrafts the older
        answer over the exact cache instead, as a redraft with exact prompt reuse would have,
        and says so in `stats.confirm_redrafted`."""
        old = redrafted_from.draft if isinstance(redrafted_from, Result) else redrafted_from
        self._check_tokens("the shown answer", shown.tokens)
        if old is not None:
            self._check_tokens("the draft", old.tokens)
        if edited_from is None and old is not None:
            edited_from = old.prompt
        draft = Draft(shown.tokens, prompt if edited_from is None else edited_from,
                      shown.margins, shown.stats.ended)
        chosen = rule_by_name(rule) if isinstance(rule, str) else rule
        messages = as_messages(prompt)
        if old is None:
            answer = self._run(messages, draft, chosen, max_tokens, reuse="exact",
                               opening=Place.SHOWN_OPENING, should_stop=should_stop)
        else:
            answer = self._confirm_or_redraft(messages, draft, old, chosen, max_tokens,
                                              should_stop)
        return Stream(self._exclusive(answer))

    def _confirm_or_redraft(
        self, messages: list[Message], shown: Draft, old: Draft, rule: AcceptanceRule,
        max_tokens: int | None, should_stop: StopCheck | None,
    ) -> Generator[TokenEvent, None, Result]:
        """Re-verify `shown`, its opening on exact match only; if the exact cache opens
        otherwise, drop that attempt (at most the opening was decoded) and redraft `old`."""
        attempt = self._run(messages, shown, rule, max_tokens, reuse="exact",
                            opening=Place.RECHECKED_OPENING, should_stop=should_stop)
        opening = list(shown.tokens[: self.start_probation])
        matched: list[TokenEvent] = []
        try:
            for expected in opening:
                event = next(attempt)
                if event.token != expected:
                    break
                matched.append(event)
            else:
                yield from matched
                return (yield from attempt)
        except StopIteration:
            pass  # the exact cache ends the answer within the shown opening
        attempt.close()
        redraft = self._run(messages, old, rule, max_tokens, reuse="exact",
                            should_stop=should_stop)
        result = yield from redraft
        result.stats.confirm_redrafted = True
        return result
