"""GPU offload on a machine without a GPU: the gpu_layers and flash_attn settings, their
validation, how they reach llama.cpp's parameters, and calibrations kept apart per device.

A GPU is simulated where llama.cpp is asked which GPUs it has (`gpu_devices`); the CPU-only
build then receives the very parameters a CUDA build would, and ignores the offload.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers.models import smollm_path
from redraft_engine import Engine
from redraft_engine import loading as loading_module
from redraft_engine.cpu import cpu_key
from redraft_engine.devices import (
    Device,
    device_key,
    offloaded_layers,
    parse_flash_attn,
    parse_gpu_layers,
    requested_layers,
)
from redraft_engine.llama_backend import lib

from redraft_cli.config import load_config
from redraft_cli.engine_access import Models, load_engine
from redraft_cli.main import app

runner = CliRunner()
H200 = Device("CUDA0", "NVIDIA H200", "GPU")
OTHER_GPU = Device("CUDA0", "NVIDIA L4", "GPU")


@pytest.mark.parametrize("raw, value", [
    (0, 0), (12, 12), ("12", 12), (" 7 ", 7), ("all", "all"), ("ALL", "all"), ("auto", "auto"),
])
def test_gpu_layers_accepts_a_count_all_or_auto(raw, value):
    assert parse_gpu_layers(raw) == value


@pytest.mark.parametrize("raw", [-1, "-1", "x", "", True, 1.5, "12 layers", None])
def test_gpu_layers_refuses_anything_else_and_says_what_it_takes(raw):
    with pytest.raises(ValueError, match=r"number of layers .*'all' or 'auto', got"):
        parse_gpu_layers(raw)


def test_flash_attn_is_auto_on_or_off():
    assert [parse_flash_attn(v) for v in ("auto", "on", "off")] == ["auto", "on", "off"]
    with pytest.raises(ValueError, match="auto, off, on, got 'yes'"):
        parse_flash_attn("yes")


def test_auto_offloads_everything_only_where_there_is_a_gpu():
    assert requested_layers("auto", has_gpu=True) == -1  # llama.cpp's "all layers"
    assert requested_layers("auto", has_gpu=False) == 0
    assert requested_layers("all", has_gpu=False) == -1
    assert requested_layers(5, has_gpu=True) == 5
    # llama.cpp counts the output layer as one more; nothing is offloaded without a GPU.
    assert offloaded_layers(-1, n_layer=30, has_gpu=True) == 31
    assert offloaded_layers(99, n_layer=30, has_gpu=True) == 31
    assert offloaded_layers(5, n_layer=30, has_gpu=True) == 5
    assert offloaded_layers(-1, n_layer=30, has_gpu=False) == 0


def test_device_keys_separate_gpus_partial_offloads_and_attention_modes():
    cpu = device_key((), 0, "auto")
    assert cpu == ""  # calibrations measured on the CPU before GPUs were supported stay valid
    full = device_key((H200,), 31, "auto")
    assert full.startswith("-gpu") and full.endswith("-g31")
    assert device_key((OTHER_GPU,), 31, "auto") != full
    assert device_key((H200,), 12, "auto") != full
    assert device_key((H200,), 0, "auto") == cpu  # no layer offloaded: the CPU's tables
    assert device_key((H200,), 31, "off") == full + "-faoff"


@pytest.fixture
def loads(monkeypatch):
    """The n_gpu_layers and flash_attn_type llama.cpp receives, load by load."""
    L = lib()
    seen: dict[str, list[int]] = {"n_gpu_layers": [], "flash_attn_type": []}
    load_model, init_context = L.llama_model_load_from_file, L.llama_init_from_model

    def load(path, params):
        seen["n_gpu_layers"].append(params.n_gpu_layers)
        return load_model(path, params)

    def init(model, params):
        seen["flash_attn_type"].append(params.flash_attn_type)
        return init_context(model, params)

    monkeypatch.setattr(L, "llama_model_load_from_file", load)
    monkeypatch.setattr(L, "llama_init_from_model", init)
    return seen


def simulate_gpu(monkeypatch, *devices: Device) -> None:
    monkeypatch.setattr(loading_module, "gpu_devices", lambda: tuple(devices))


@pytest.mark.model
def test_the_setting_reaches_llama_cpp_and_the_report(monkeypatch, loads, tmp_path):
    fixed = dict(window=16, noise=0.3, max_tokens=4, calibration_dir=tmp_path)
    # Control: the CPU-only build, auto: nothing is offloaded.
    with Engine(smollm_path(), **fixed) as engine:
        assert (engine.backend, engine.gpu_layers, engine.n_layers) == ("CPU", 0, 31)
    simulate_gpu(monkeypatch, H200)
    with Engine(smollm_path(), **fixed) as engine:  # auto, with a GPU: every layer
        assert (engine.backend, engine.gpu_layers) == ("CUDA0 (NVIDIA H200)", 31)
    with Engine(smollm_path(), gpu_layers=7, flash_attn="off", **fixed) as engine:
        assert engine.gpu_layers == 7
        assert engine.generate("Say hello.").stats.emitted > 0
    assert loads["n_gpu_layers"] == [0, -1, 7]
    assert loads["flash_attn_type"] == [-1, -1, 0]  # auto, auto, off
    with pytest.raises(ValueError, match="got 'many'"):
        Engine(smollm_path(), gpu_layers="many", **fixed)


def noise_file(folder, device: str):
    (path,) = [p for p in folder.glob("calibration-noise1-*.json")
               if p.name.endswith(f"c4096{device}.json")]
    return path


@pytest.mark.model
def test_a_gpu_run_never_uses_the_cpus_calibration(monkeypatch, tmp_path):
    settings = dict(calibration_dir=tmp_path, window=16, max_tokens=1)
    Engine(smollm_path(), **settings).close()  # measures the CPU's noise
    cpu_file = noise_file(tmp_path, "")
    assert cpu_key() in cpu_file.name
    cpu_file.write_text(json.dumps({**json.loads(cpu_file.read_text()), "noise": 9.5}))
    # Control: the CPU run reads its own file back.
    with Engine(smollm_path(), **settings) as engine:
        assert engine.noise == 9.5
    simulate_gpu(monkeypatch, H200)
    with Engine(smollm_path(), **settings) as engine:
        assert engine.noise != 9.5  # measured again, for this device
    gpu_file = noise_file(tmp_path, device_key((H200,), 31, "auto"))
    assert json.loads(gpu_file.read_text())["noise"] != 9.5
    # And the reverse: a GPU's table is not read on the CPU.
    gpu_file.write_text(json.dumps({**json.loads(gpu_file.read_text()), "noise": 7.5}))
    monkeypatch.undo()
    with Engine(smollm_path(), **settings) as engine:
        assert engine.noise == 9.5


def test_the_setting_comes_from_flag_env_or_config_file(project):
    (project / "redraft.toml").write_text("gpu_layers = 12\nflash_attn = 'on'\n")
    settings = load_config(project, env={}).settings
    assert (settings.gpu_layers, settings.source("gpu_layers")) == (12, "redraft.toml")
    assert settings.flash_attn == "on"
    settings = load_config(project, env={"REDRAFT_GPU_LAYERS": "all"}).settings
    assert (settings.gpu_layers, settings.source("gpu_layers")) == ("all", "env REDRAFT_GPU_LAYERS")
    settings = load_config(project, flags={"gpu_layers": "0"}, env={}).settings
    assert (settings.gpu_layers, settings.source("gpu_layers")) == (0, "flag --gpu-layers")


def test_redraft_config_shows_it_resolved_for_this_build(project):
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if x.startswith("gpu_layers"))
    assert "auto (here: 0, no GPU backend)" in line
    doc = json.loads(runner.invoke(app, ["config", "--json"]).output)
    assert doc["settings"]["gpu_layers"] == {"value": "auto", "source": "default"}
    assert doc["gpu_devices"] == []


@pytest.mark.parametrize("where, args, env", [
    ("option --gpu-layers", ["run", "x.md", "--gpu-layers", "-2"], {}),
    ("environment variable REDRAFT_GPU_LAYERS", ["config"], {"REDRAFT_GPU_LAYERS": "lots"}),
])
def test_a_bad_value_is_one_line_and_exit_2(project, where, args, env):
    (project / "x.md").write_text("text\n")
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"redraft: error: {where}: must be a number of layers")
    assert "Traceback" not in result.output


@pytest.mark.model
def test_asking_for_a_gpu_without_one_warns_and_runs_on_the_cpu(project, capsys):
    for flags, warned in (({}, False), ({"gpu_layers": "4"}, True)):
        settings = load_config(project, flags=flags, env={}).settings.with_prompt_reuse("exact")
        engine = load_engine(settings, Models().identify(settings))
        assert (engine.backend, engine.gpu_layers) == ("CPU", 0)
        engine.close()
        err = capsys.readouterr().err
        assert ("asks for a GPU, but the installed llama.cpp has no GPU backend" in err) is warned
        if warned:
            assert "gpu_layers 4 (flag --gpu-layers)" in err


@pytest.mark.model
def test_run_json_says_where_the_model_ran(project):
    (project / "doc.md").write_text("The harbor bridge opened in May.\n")
    result = runner.invoke(app, ["run", "doc.md", "--json", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["engine"] == {"backend": "CPU", "gpu_layers": 0, "n_layers": 31,
                             "flash_attn": "auto"}
    # Unchanged: no model loaded, so no engine to report.
    again = json.loads(runner.invoke(app, ["run", "doc.md", "--json", "--max-tokens", "4"]).stdout)
    assert "engine" not in again
