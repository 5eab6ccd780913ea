"""Coverage-guided fuzzing of every modelhound entry point that reads untrusted bytes.

``python -m fuzz.driver NAME [libFuzzer flags]`` fuzzes one harness with atheris (the
``fuzz`` extra); ``fuzz.driver.replay`` runs the same contract without libFuzzer over the
seeds, the stored regression inputs and fixed-seed mutations (the CI slice in
``tests/fuzz``). Harnesses live in ``fuzz/harnesses``, one module per entry point; seeds are
built at run time from the real fixtures (``fuzz/seeds.py``), never copied into the
repository. ``fuzz/regressions/<harness>/`` keeps the minimised inputs of findings.
"""
