"""``python -m az_local.server [llama_cpp.server options]``: llama-cpp-python's
OpenAI-compatible server (``python -m llama_cpp.server``) with the CPU
settings az-local's own loads use (:func:`az_local.model.cpu_safe_params`):
on a CPU that advertises AMX, llama.cpp's extra weight buffers stay off unless
``AZ_LOCAL_EXTRA_BUFFERS=1``, so the server does not die with SIGILL at its
first answer under a hypervisor that advertises AMX without enabling it.

Takes exactly the options of ``python -m llama_cpp.server`` (``--model``,
``--host``, ``--port``, ``--n_ctx``, ...); needs ``llama-cpp-python[server]``.
"""

from __future__ import annotations

import runpy
import sys


def main() -> None:
    from az_local.model import cpu_safe_params

    # entered for the life of the process: the server builds its Llama later
    cpu_safe_params().__enter__()
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
