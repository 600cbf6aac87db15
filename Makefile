# Set-up and entry points. Each target creates .venv in the repo root when it is missing and installs
# torch==2.13.0 (the local CPU wheel) before the project, so pip never resolves a CUDA build.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SHARED := $(abspath ../shared)

# Beside a checkout that has ../shared (CI, developers), use its offline NLTK data and benchmark files
# unless the caller already set these.
ifneq ($(wildcard $(SHARED)/nltk_data),)
export NLTK_DATA ?= $(SHARED)/nltk_data
endif
ifneq ($(wildcard $(SHARED)/benchdata),)
export UEDPO_DATA_DIR ?= $(SHARED)/benchdata
endif
export GRADIO_ANALYTICS_ENABLED ?= False
export HF_HUB_DISABLE_TELEMETRY ?= 1

.PHONY: demo test lint install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

# The toolkit's main job on the built-in default: evaluate the shipped ShapesWorld checkpoint on the built-in
# ShapesWorld benchmark (captions + yes/no, AMBER scorer + ShapesWorld metrics). `python -m uedpo.demo` still
# runs the core walk-through on a random tiny model.
DEMO_OUT := runs/demo
demo: $(STAMP)
	$(VENV)/bin/uedpo-eval --bench shapes --ckpt shapes-demo --out $(DEMO_OUT) --quiet
	@echo
	@echo "Open the token inspector on these results:"
	@echo "  $(VENV)/bin/uedpo-inspect --ckpt shapes-demo --samples $(DEMO_OUT)/shapes/results.items.jsonl"

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
