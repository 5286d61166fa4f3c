"""Typed errors raised by the engine. Every message names the file or the numbers involved."""


class RedraftError(Exception):
    """Base class of every error the engine raises on purpose."""


class ModelNotFoundError(RedraftError):
    """The model file does not exist or is not a regular file."""


class InvalidModelError(RedraftError):
    """The model file exists but is not a GGUF model llama.cpp can load."""


class PromptTooLongError(RedraftError):
    """The prompt does not fit in the context window."""

    def __init__(self, n_tokens: int, limit: int):
        self.n_tokens = n_tokens
        self.limit = limit
        super().__init__(
            f"the prompt is {n_tokens} tokens long but the context window holds {limit}; "
            "shorten the document or raise n_ctx"
        )


class EngineError(RedraftError):
    """llama.cpp reported a failure (decode error, no free KV slot, failed state restore)."""


class EngineBuildError(RedraftError):
    """The installed llama.cpp library cannot run on this CPU (built for another one)."""


class Stopped(RedraftError):
    """A stream's `should_stop` asked it to stop while its prompt was being decoded; the KV
    cache keeps what was decoded before (a newer request reuses it)."""


class InvalidTokenError(RedraftError, ValueError):
    """A draft or saved state holds token ids outside the model's vocabulary (it was made by
    another model, or damaged)."""

    def __init__(self, what: str, bad: list[int], n_vocab: int):
        self.bad = bad
        shown = ", ".join(str(t) for t in bad[:3]) + (", ..." if len(bad) > 3 else "")
        super().__init__(
            f"{what} holds {len(bad)} token id(s) outside this model's vocabulary of "
            f"{n_vocab} ({shown}); it was not made by this model, or it is damaged"
        )
