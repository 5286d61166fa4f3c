"""A llama.cpp build that does not fit the CPU is refused with a message, and the AMX kernels
(which crash here) are kept out of the model's weights."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner
from redraft_engine import llama_backend
from redraft_engine.build_fit import amx_compiled, compiled_features, unfit_extensions
from redraft_engine.cpu import cpu_flags

from redraft_cli.main import app

SKYLAKE_BUILD = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
                 "BMI2 = 1 | AVX512 = 1 | AVX512_VNNI = 0 | LLAMAFILE = 1 | OPENMP = 1 | ")
HASWELL_FLAGS = frozenset("fpu sse2 pni ssse3 avx avx2 f16c fma bmi2".split())


def test_compiled_features_are_the_ones_set_to_1():
    compiled = compiled_features(SKYLAKE_BUILD)
    assert {"SSE3", "AVX2", "AVX512", "OPENMP"} <= compiled
    assert "AVX512_VNNI" not in compiled and "CPU" not in compiled


def test_an_extension_the_cpu_lacks_is_named():
    assert unfit_extensions(compiled_features(SKYLAKE_BUILD), HASWELL_FLAGS) == ["AVX512"]


def test_a_cpu_with_every_compiled_extension_fits():
    assert unfit_extensions(compiled_features(SKYLAKE_BUILD), HASWELL_FLAGS | {"avx512f"}) == []


def test_a_cpu_that_names_no_flags_is_not_judged():
    assert unfit_extensions(compiled_features(SKYLAKE_BUILD), frozenset()) == []


@pytest.fixture
def reloaded_backend(monkeypatch) -> frozenset[str]:
    """`lib()` initialises again on its next call (and the real state comes back after); the
    fixture's value is what the installed build was compiled with."""
    compiled = llama_backend.build_features()
    monkeypatch.setattr(llama_backend, "_state", {})
    return compiled


@pytest.mark.model
def test_run_refuses_a_build_for_another_cpu(project, reloaded_backend, monkeypatch):
    """A CPU with none of the build's extensions: one line naming them and the fix, exit 2."""
    import llama_cpp

    if not unfit_extensions(reloaded_backend, frozenset({"fpu"})):
        pytest.skip("this build reports no x86 vector extension")
    (project / "doc.md").write_text("The meeting is on Monday at noon in room 4.\n")
    monkeypatch.setattr(llama_backend, "cpu_flags", lambda: frozenset({"fpu"}))
    result = CliRunner().invoke(app, ["run", "doc.md", "--out", "out.md"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "built for another CPU" in lines[0], result.stderr
    assert "pip cache remove llama_cpp_python" in lines[0]
    assert f'"llama-cpp-python=={llama_cpp.__version__}"' in lines[0]  # the same release again
    assert not (project / "out.md").exists()


@pytest.mark.model
def test_the_real_cpu_fits_the_installed_build(reloaded_backend):
    """Control of the test above: the same fresh initialisation with this CPU's own flags."""
    assert llama_backend.lib() is not None
    assert unfit_extensions(llama_backend.build_features(), cpu_flags()) == []


DECODE_ONCE = """
import sys
from redraft_engine import Engine, llama_model
from redraft_engine.model_source import bundled_model_path
if sys.argv[1] == "unguarded":
    llama_model.amx_compiled = lambda compiled: False
engine = Engine(bundled_model_path())
print(len(engine.generate("Name three colours.", max_tokens=4).tokens))
"""


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("arm", ["guarded", "unguarded"])
def test_amx_kernels_are_kept_out(arm, tmp_path):
    """With AMX compiled in and on the CPU, a decode crashes unless the guard keeps AMX weight
    buffers out; the unguarded arm is the control."""
    if not (amx_compiled(llama_backend.build_features()) and "amx_int8" in cpu_flags()):
        pytest.skip("llama.cpp was built without AMX, or this CPU has none")
    done = subprocess.run([sys.executable, "-c", DECODE_ONCE, arm], cwd=tmp_path,
                          capture_output=True, timeout=300)
    if arm == "guarded":
        assert done.returncode == 0, done.stderr[-2000:]
    else:
        assert done.returncode < 0, "the AMX kernels no longer crash: the guard may go"
