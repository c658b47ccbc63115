# Developer entry points. `make demo` and `make test` set everything up first
# (scripts/setup.sh is idempotent and takes about a second once done).
PYTHON := .venv/bin/python

.PHONY: setup demo test bench asv-check clean distclean

setup:
	bash scripts/setup.sh

demo: setup
	$(PYTHON) scripts/demo.py

test: setup
	$(PYTHON) -m pytest -q tests

bench: setup
	bash bench/run.sh

asv-check:
	cd asv_bench && ../.venv/bin/asv check --python=same

# Remove build products (the editable install's build/ goes too, so the next
# `make setup` reinstalls); keeps .venv. `make distclean` also removes .venv.
clean:
	rm -rf build builddir dist .pytest_cache .venv/.setup-stamp
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf .venv
