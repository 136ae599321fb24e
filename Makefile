# The two set-up commands of the README: `make demo` and `make test`. Both create what they need.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench fuzz goldens audit clean

# The environment holds exactly the pinned, hash-checked releases of requirements.lock (written by
# security/lock.py from pyproject.toml), installed with uv (a minute, where pip takes several).
$(STAMP): pyproject.toml requirements.lock
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet uv
	$(VENV)/bin/uv pip install --python $(VENV)/bin/python --quiet --require-hashes --no-deps -r requirements.lock
	$(VENV)/bin/uv pip install --python $(VENV)/bin/python --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/openhsct demo

test: $(STAMP)
	bash scripts/test.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

audit: $(STAMP)
	$(VENV)/bin/python security/audit_dependencies.py

bench: $(STAMP)
	for b in bench/*.py; do $(VENV)/bin/python $$b || exit 1; done

# Coverage-guided fuzzing of the import's reader and validator (libFuzzer through atheris, a bench tool
# kept out of the lock): `make fuzz MINUTES=10`.
MINUTES ?= 10
fuzz: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet atheris==3.0.0
	$(VENV)/bin/python bench/fuzz_import.py --minutes $(MINUTES)

goldens:
	Rscript reference/r/survival_goldens.R && Rscript reference/r/metafor_goldens.R && Rscript reference/r/comparative_goldens.R && Rscript reference/r/glmm_marginal_goldens.R && Rscript reference/r/prediction_goldens.R && Rscript reference/r/decision_goldens.R

clean:
	rm -rf $(VENV) .venv-msprog openhsct-data openhsct-demo artifacts
