"""Does the llama.cpp build fit this CPU? Its compiled-in vector extensions against the CPU's.

pip caches the llama-cpp-python wheel it built, and that build targets the CPU it was built on
(`-march=native`). Carried to a CPU without one of those extensions, the library dies of
SIGILL in its first decode; `unfit_extensions` names the extensions at fault so that the
engine refuses to load instead, with a message.

llama.cpp's AMX kernels (compiled in on CPUs that have AMX) crash in their first matrix
multiply on the machines seen here (ggml-org/llama.cpp#20824: the tile configuration is not
kept); `amx_compiled` tells the model loader to leave the extra weight buffers (AMX, repacking)
out.
"""

from __future__ import annotations

# llama_print_system_info's name of a compile-time extension -> the /proc/cpuinfo flag for it.
CPUINFO_FLAG = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX_VNNI": "avx_vnni",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}


def rebuild_hint(version: str) -> str:
    """What to run to build llama-cpp-python `version` again for this CPU."""
    return ("rebuild llama-cpp-python for this CPU: pip cache remove llama_cpp_python && "
            f'pip install --force-reinstall --no-deps --no-cache-dir "llama-cpp-python=={version}"')


def compiled_features(system_info: str) -> frozenset[str]:
    """The features a `llama_print_system_info` text reports as on (`NAME = 1`)."""
    on = set()
    for field in system_info.replace("\n", "|").split("|"):
        name, sep, value = field.rpartition("=")
        if sep and value.strip() == "1":
            on.add(name.split(":")[-1].strip())
    return frozenset(on)


def unfit_extensions(compiled: frozenset[str], cpu_flags: frozenset[str]) -> list[str]:
    """The vector extensions the build was compiled with that this CPU lacks (build order).

    Empty when `cpu_flags` is empty: a CPU that says nothing of its flags is not judged.
    """
    if not cpu_flags:
        return []
    return [name for name, flag in CPUINFO_FLAG.items()
            if name in compiled and flag not in cpu_flags]


def amx_compiled(compiled: frozenset[str]) -> bool:
    return "AMX_INT8" in compiled
