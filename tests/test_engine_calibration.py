"""Calibrations are kept per CPU kind: a folder shared between machines (a home directory on a
network drive, a cache copied along) never hands one CPU's near-tie noise or window costs to
another, whose kernels round differently.
"""

from __future__ import annotations

import json

import pytest
from helpers.models import smollm_path
from redraft_engine import Engine
from redraft_engine import cpu as cpu_module
from redraft_engine.cpu import cpu_key

NOT_THIS_CPU = "cpu00000000"


@pytest.fixture
def fake_cpuinfo(monkeypatch):
    fields: dict[str, str] = {}
    monkeypatch.setattr(cpu_module, "cpuinfo_field", fields.get)
    cpu_key.cache_clear()
    yield fields
    cpu_key.cache_clear()


def test_the_cpu_key_names_the_model_and_its_vector_extensions(fake_cpuinfo):
    fake_cpuinfo.update({"model name": "AMD EPYC", "flags": "fpu avx avx2 fma avx512f"})
    with_avx512 = cpu_key()
    cpu_key.cache_clear()
    fake_cpuinfo["flags"] = "fpu avx avx2 fma"
    without = cpu_key()
    cpu_key.cache_clear()
    fake_cpuinfo["flags"] = "avx2 fma avx512f avx sse4_2"  # order and unrelated flags: same kind
    assert cpu_key() == with_avx512 != without
    cpu_key.cache_clear()
    fake_cpuinfo["model name"] = "Intel Xeon"
    assert cpu_key() != with_avx512


def noise_file(folder, key):
    (path,) = [p for p in folder.glob("calibration-noise1-*.json") if f"-{key}-" in p.name]
    return path


@pytest.mark.model
def test_a_noise_measured_on_another_cpu_is_not_used(tmp_path):
    engine = Engine(smollm_path(), calibration_dir=tmp_path, window=16, max_tokens=1)
    measured = engine.noise
    engine.close()
    mine = noise_file(tmp_path, cpu_key())
    planted = {**json.loads(mine.read_text()), "noise": 9.5}
    # Control: this CPU's own file is read back as it is, not measured again.
    mine.write_text(json.dumps(planted))
    engine = Engine(smollm_path(), calibration_dir=tmp_path, window=16, max_tokens=1)
    assert engine.noise == 9.5
    engine.close()
    # The same file under another CPU's key is ignored: the noise is measured here.
    mine.rename(mine.with_name(mine.name.replace(cpu_key(), NOT_THIS_CPU)))
    engine = Engine(smollm_path(), calibration_dir=tmp_path, window=16, max_tokens=1)
    remeasured = engine.noise
    engine.close()
    assert remeasured == pytest.approx(measured)
    assert json.loads(noise_file(tmp_path, cpu_key()).read_text())["noise"] == remeasured


def test_a_first_load_says_what_it_measures_and_a_second_measures_nothing(tmp_path):
    heard: list[str] = []
    engine = Engine(smollm_path(), calibration_dir=tmp_path, max_tokens=1,
                    on_calibrate=heard.append)
    assert heard == ["timing verification windows", "measuring the batched-decode noise"]
    assert engine.calibration_s > 0
    engine.close()
    heard.clear()
    # Control: with both measurements saved, nothing is measured or announced.
    engine = Engine(smollm_path(), calibration_dir=tmp_path, max_tokens=1,
                    on_calibrate=heard.append)
    assert heard == [] and engine.calibration_s == 0.0
    engine.close()
