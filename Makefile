# Two commands for a fresh machine: `make demo` (the main job on the embedded demo set)
# and `make test` (the test suite, as CI runs it).

.PHONY: demo test bench-extract

demo:
	scripts/setup.sh test,gradient,runtimes
	.venv/bin/modelhound demo --out modelhound-demo

test:
	scripts/setup.sh test,gradient,runtimes
	.venv/bin/python -m pytest -q

bench-extract:
	.venv/bin/python bench/extract/run.py
