"""Typed, named errors of the engine's model resolution and prompt limit."""

from __future__ import annotations

import pytest
from helpers.models import smollm_path
from redraft_engine import (
    Engine,
    InvalidModelError,
    ModelFile,
    ModelNotFoundError,
    PromptTooLongError,
)


def test_missing_model_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelNotFoundError, match="nope.gguf"):
        Engine(missing)


def test_a_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not a file"):
        Engine(tmp_path)


def test_a_file_that_is_not_gguf_names_the_file(tmp_path):
    fake = tmp_path / "weights.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    with pytest.raises(InvalidModelError, match="weights.gguf is not a GGUF model file"):
        Engine(fake)


def test_resolution_order_explicit_then_environment_then_bundled(tmp_path, monkeypatch):
    monkeypatch.setenv("REDRAFT_MODEL", str(tmp_path / "from-env.gguf"))
    with pytest.raises(ModelNotFoundError, match="explicit.gguf"):
        Engine(tmp_path / "explicit.gguf")
    with pytest.raises(ModelNotFoundError, match="from-env.gguf"):
        Engine()
    monkeypatch.delenv("REDRAFT_MODEL")
    bundled = ModelFile.open()
    assert bundled.path == smollm_path()
    assert bundled == ModelFile.open(smollm_path())  # one identity, however it is named


@pytest.mark.model
def test_a_prompt_over_the_context_says_both_numbers(tmp_path):
    with Engine(smollm_path(), n_ctx=256, window=16, noise=0.3) as engine:  # nothing to measure
        prompt = "Summarize this. " + "The committee met again on Monday. " * 60
        n = len(engine.prompt_tokens(prompt))
        with pytest.raises(PromptTooLongError) as caught:
            engine.generate(prompt)
        assert caught.value.n_tokens == n and caught.value.limit == 256
        assert f"{n} tokens long" in str(caught.value) and "holds 256" in str(caught.value)
        assert engine.generate("Say hello.", max_tokens=4).stats.emitted > 0  # still usable


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"anchor_n": 0}])
def test_bad_window_settings_fail_before_loading(kwargs, tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        Engine(tmp_path / "never-loaded.gguf", **kwargs)


def test_a_draft_with_token_ids_outside_the_vocabulary_is_refused_before_decoding():
    from redraft_engine import Draft, InvalidTokenError, Result

    with Engine(smollm_path(), window=8, noise=0.0) as eng:
        old = eng.generate("Say hello.", max_tokens=4)
        for bad in (eng.model.n_vocab, -1):
            draft = Draft([*old.tokens[:2], bad], "Say hello.")
            with pytest.raises(InvalidTokenError, match="outside this model's vocabulary"):
                eng.stream_redraft("Say hello!", draft)
            shown = Result(text="", tokens=[bad], spans=[], stats=old.stats)
            with pytest.raises(InvalidTokenError, match=str(bad)):
                eng.stream_confirm("Say hello!", shown)
            assert not eng.import_state([bad], b"state")
        assert eng.redraft("Say hello!", old, max_tokens=4).tokens  # the engine is unharmed


def test_should_stop_ends_a_prefill_with_stopped_and_its_own_errors_reach_the_caller():
    from redraft_engine import Stopped

    class Broken(Exception):
        pass

    def broken() -> bool:
        raise Broken  # raised inside llama.cpp's abort callback, where ctypes would drop it

    prompt = "Summarize: " + "the quarterly figures were reviewed in detail. " * 40
    with Engine(smollm_path(), window=8, noise=0.0) as eng:
        with pytest.raises(Stopped):
            eng.stream_generate(prompt, should_stop=lambda: True).run()
        with pytest.raises(Broken):
            eng.stream_generate(prompt, should_stop=broken).run()
        kept = eng.session.n_tokens  # what the cache lists is what it holds: reused next
        assert eng.generate(prompt, max_tokens=2).stats.prompt_reused == kept
