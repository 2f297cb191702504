"""A persistent ggml thread pool for llama.cpp contexts.

Without one, llama.cpp starts and joins its worker threads on every decoding step (when built
without OpenMP) or hands the step to OpenMP, whose barriers cost several microseconds per graph node;
a LoRA variant adds four nodes per adapted matrix, so on a small model both costs show. One pool per
base, attached to each of its contexts, keeps the workers alive between steps (they poll briefly,
then sleep); like the base it serves, it lives as long as the process. llama-cpp-python does not bind these functions, so they are declared here; where the
library lacks them, contexts keep llama.cpp's default and nothing else changes.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

MAX_THREADS = 512  # GGML_MAX_N_THREADS: the size of the pool parameters' CPU mask
POLL = 50  # llama.cpp's default polling level (0 = sleep at once, 100 = spin hardest)


class ThreadpoolParams(ctypes.Structure):
    """``struct ggml_threadpool_params`` (ggml.h)."""

    _fields_ = [
        ("cpumask", ctypes.c_bool * MAX_THREADS),
        ("n_threads", ctypes.c_int),
        ("prio", ctypes.c_int),
        ("poll", ctypes.c_uint32),
        ("strict_cpu", ctypes.c_bool),
        ("paused", ctypes.c_bool),
    ]


@functools.cache
def _libraries():
    """(ggml-base, ggml-cpu, llama) shared libraries of the installed llama-cpp-python, or None."""
    import llama_cpp

    folder = Path(llama_cpp.__file__).parent / "lib"
    try:
        base, cpu, llama = (ctypes.CDLL(str(folder / f"lib{name}.so")) for name in ("ggml-base", "ggml-cpu", "llama"))
        base.ggml_threadpool_params_init.argtypes = [ctypes.POINTER(ThreadpoolParams), ctypes.c_int]
        base.ggml_threadpool_params_init.restype = None
        cpu.ggml_threadpool_new.argtypes = [ctypes.POINTER(ThreadpoolParams)]
        cpu.ggml_threadpool_new.restype = ctypes.c_void_p
        llama.llama_attach_threadpool.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        llama.llama_attach_threadpool.restype = None
    except (OSError, AttributeError):  # another build layout, or an older llama.cpp
        return None
    return base, cpu, llama


def new_threadpool(threads: int, poll: int = POLL) -> int | None:
    """A new ggml thread pool of ``threads`` threads (the caller's thread is one of them), or None."""
    libraries = _libraries()
    if libraries is None:
        return None
    base, cpu, _ = libraries
    params = ThreadpoolParams()
    base.ggml_threadpool_params_init(ctypes.byref(params), threads)
    params.poll = poll
    return cpu.ggml_threadpool_new(ctypes.byref(params)) or None


def attach(context, threadpool: int | None) -> None:
    """Run ``context``'s decoding steps (single tokens and prompts) on ``threadpool``.

    A pool runs one graph at a time: every context sharing it must decode under one lock.
    """
    libraries = _libraries()
    if threadpool is not None and libraries is not None:
        libraries[2].llama_attach_threadpool(ctypes.cast(context, ctypes.c_void_p), threadpool, threadpool)


def uses_openmp() -> bool:
    """Whether the installed llama.cpp was built with OpenMP (then it schedules threads itself)."""
    import llama_cpp

    return b"OPENMP = 1" in llama_cpp.llama_print_system_info()
