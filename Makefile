# The two commands of the README. Each does its own set-up.
.PHONY: demo test setup lint bench

demo: setup
	.venv/bin/oio-sandbox up
	.venv/bin/oio-sandbox demo

test: setup lint
	.venv/bin/python -m pytest -q -ra

setup:
	./scripts/setup.sh

lint:
	.venv/bin/ruff check oio tests bench

bench: setup
	.venv/bin/python bench/bench.py
