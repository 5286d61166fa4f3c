"""A loaded GGUF model: vocabulary, tokenizer, token pieces and the chat template."""

from __future__ import annotations

import codecs
import ctypes
import functools
from collections.abc import Sequence
from pathlib import Path

from .build_fit import amx_compiled
from .errors import InvalidModelError
from .interrupts import deferred_interrupts, interrupt_pending
from .llama_backend import build_features, lib
from .messages import Message


class LlamaModel:
    """Owns a `llama_model` and answers vocabulary questions about it.

    `path` must already be checked (see `ModelFile.open`).
    """

    def __init__(self, path: Path, *, n_gpu_layers: int = 0):
        L = lib()
        params = L.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        if amx_compiled(build_features()):
            params.use_extra_bufts = False  # see build_fit: the AMX kernels crash

        @L.llama_progress_callback
        def go_on(_progress: float, _user: ctypes.c_void_p) -> bool:
            return not interrupt_pending()  # False stops the load: Ctrl-C is not kept waiting

        params.progress_callback = go_on
        with deferred_interrupts():
            model = L.llama_model_load_from_file(str(path).encode(), params)
            if not model and interrupt_pending():
                # Leaving the section turns this into the KeyboardInterrupt it was.
                raise InvalidModelError(f"loading {path} was interrupted")
        if not model:
            raise InvalidModelError(f"llama.cpp could not load {path} as a model")
        self.path = path
        self.ptr = model
        self.vocab = L.llama_model_get_vocab(model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        self.n_ctx_train = int(L.llama_model_n_ctx_train(model))
        self.n_swa = int(L.llama_model_n_swa(model))
        self.n_layer = int(L.llama_model_n_layer(model))
        self.recurrent = bool(L.llama_model_is_recurrent(model) or L.llama_model_is_hybrid(model))
        self.eog = frozenset(t for t in range(self.n_vocab) if L.llama_vocab_is_eog(self.vocab, t))
        template = L.llama_model_chat_template(model, None)
        self.chat_template: bytes | None = template or None
        self._pieces: dict[int, bytes] = {}
        desc = ctypes.create_string_buffer(256)
        L.llama_model_desc(model, desc, 256)
        self.description = desc.value.decode("utf-8", "replace")

    def close(self) -> None:
        if self.ptr:
            ptr, self.ptr = self.ptr, None
            with deferred_interrupts():
                lib().llama_model_free(ptr)

    def invalid_tokens(self, tokens: Sequence[int]) -> list[int]:
        """The ids of `tokens` outside this model's vocabulary, in order (llama.cpp aborts the
        whole process on one, so every id from outside is checked before it gets there)."""
        n = self.n_vocab
        return [t for t in tokens if isinstance(t, bool) or not 0 <= t < n]

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of `text`. With `special`, add BOS if the model wants it and parse markup."""
        L = lib()
        data = text.encode("utf-8")
        cap = len(data) + 16
        while True:
            buf = (L.llama_token * cap)()
            n = L.llama_tokenize(self.vocab, data, len(data), buf, cap, special, special)
            if n >= 0:
                return list(buf[:n])
            cap = -n

    def piece(self, token: int) -> bytes:
        """Raw bytes of one token (special tokens render empty)."""
        cached = self._pieces.get(token)
        if cached is None:
            L = lib()
            buf = ctypes.create_string_buffer(64)
            n = L.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = L.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
            cached = buf.raw[:n]
            self._pieces[token] = cached
        return cached

    def is_blank(self, token: int) -> bool:
        """Is the token's piece whitespace only (and not empty, as special tokens are)?"""
        raw = self.piece(token)
        return bool(raw) and not raw.strip()

    @functools.cached_property
    def fence_tokens(self) -> frozenset[int]:
        """Token ids that write a code fence, as this tokenizer spells fences in text."""
        spellings = ("```", "\n```", " ```", "```\n", "\n```\n", "\n\n```", "```python")
        ids = {t for text in spellings for t in self.tokenize(text)}
        return frozenset(t for t in ids if b"```" in self.piece(t))

    def text_decoder(self) -> TextDecoder:
        """A decoder that turns this model's tokens into text pieces one token at a time."""
        return TextDecoder(self)

    def text_pieces(self, tokens: Sequence[int]) -> list[str]:
        """Per-token text whose concatenation is the decoded text (multi-byte safe)."""
        dec = self.text_decoder()
        out = [dec.piece(t) for t in tokens]
        if out:
            out[-1] += dec.flush()
        return out

    def render_chat(self, messages: Sequence[Message]) -> str:
        """The prompt text for `messages` under the model's chat template, ready for an answer.

        Models without a usable template get the message contents joined by blank lines.
        """
        if self.chat_template is not None:
            L = lib()
            keep = [(m["role"].encode(), m["content"].encode()) for m in messages]
            arr = (L.llama_chat_message * len(keep))(
                *[L.llama_chat_message(role, content) for role, content in keep]
            )
            cap = 2 * sum(len(r) + len(c) for r, c in keep) + 512
            for _ in range(2):
                buf = ctypes.create_string_buffer(cap)
                n = L.llama_chat_apply_template(self.chat_template, arr, len(keep), True, buf, cap)
                if n < 0:
                    break
                if n <= cap:
                    return buf.raw[:n].decode("utf-8", "replace")
                cap = n + 1
        return "\n\n".join(m["content"] for m in messages) + "\n\n"


class TextDecoder:
    """Incremental UTF-8 decoding of token bytes: a character split over tokens appears with
    the token that completes it."""

    def __init__(self, model: LlamaModel):
        self._model = model
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def piece(self, token: int) -> str:
        return self._utf8.decode(self._model.piece(token))

    def flush(self) -> str:
        """What is left of an incomplete character at the end (replacement characters)."""
        return self._utf8.decode(b"", final=True)
