"""ModelDiff pairs for token models: discrete substitutions instead of L-inf perturbations.

Token ids are categories, so PGD's eps-ball and the score search's +-eps steps mean nothing
for them. The perturbed half ``x'_i`` of a pair is ``x_i`` with :attr:`TokenSearchConfig.rounds`
tokens replaced, greedily: each round draws ``candidates`` seeded (position, token) pairs,
the tokens taken from the seed batch itself (real words of the same vocabulary), runs them
all on the generator model and keeps, per sequence, the one that moves its output
probabilities most (ModelDiff's divergence term). Padding (id 0) is never written.

The vocabulary size a model accepts is read from its ONNX form (:func:`embedding_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelhound.fingerprint.interface import Generator, PairSet, SeedSet


@dataclass(frozen=True)
class TokenSearchConfig:
    """Settings of the substitution search."""

    rounds: int = 2
    candidates: int = 16
    seed: int = 0


def _probabilities(y: np.ndarray) -> np.ndarray:
    from modelhound.fingerprint.generate import _as_probabilities

    return _as_probabilities(y)


def substitution_pairs(runnable: object, seeds: SeedSet,
                       config: TokenSearchConfig = TokenSearchConfig(),
                       subject: str = "") -> PairSet:
    """Pairs (seeds, seeds with greedy one-token substitutions) on ``runnable`` (one input)."""
    from modelhound.fingerprint.inputs import InputAdapter
    from modelhound.fingerprint.modeldiff import flatten_outputs

    spec = getattr(runnable, "inputs")[0]
    adapter = InputAdapter(spec)

    def run(x: np.ndarray) -> np.ndarray:
        return _probabilities(flatten_outputs(getattr(runnable, "run")([adapter.to_model(x)])))

    rng = np.random.default_rng(config.seed)
    x = np.asarray(seeds.data, np.float32)
    n = len(x)
    flat = x.reshape(n, -1)
    pool = flat[flat > 0]
    if pool.size == 0:
        pool = np.arange(3, 100, dtype=np.float32)
    p0 = run(x)
    cur = flat.copy()
    for _ in range(config.rounds):
        cands = np.repeat(cur[:, None, :], config.candidates, axis=1)  # (n, C, L)
        pos = rng.integers(0, flat.shape[1], size=(n, config.candidates))
        tok = pool[rng.integers(0, pool.size, size=(n, config.candidates))]
        rows, cols = np.meshgrid(np.arange(n), np.arange(config.candidates), indexing="ij")
        cands[rows, cols, pos] = np.where(cands[rows, cols, pos] > 0, tok,
                                          cands[rows, cols, pos])
        p = run(cands.reshape(n * config.candidates, *x.shape[1:]))
        div = np.linalg.norm(p.reshape(n, config.candidates, -1) - p0[:, None, :], axis=2)
        best = div.argmax(axis=1)
        cur = cands[np.arange(n), best]
    return PairSet(
        seeds_name=seeds.name, x=x, x_adv=cur.reshape(x.shape).astype(np.float32),
        is_image=False, generator=Generator.TOKEN_SEARCH, generated_on=subject,
        generator_input=adapter.describe(), config=repr(config), domain=seeds.domain,
    )


def embedding_rows(onnx_model: bytes, input_name: str) -> int | None:
    """Rows of the embedding table the input's ids index (a ``Gather`` on a constant,
    reached from the input through casts and reshapes); the largest 2-D constant's rows when
    no such Gather is found; None when the model has no 2-D constant."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(onnx_model).graph
    shapes = {i.name: tuple(i.dims) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = tuple(numpy_helper.to_array(a.t).shape)
    derived = {input_name}
    passthrough = {"Cast", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Flatten", "Clip"}
    for node in graph.node:  # graph nodes are topologically sorted
        if node.op_type in passthrough and node.input and node.input[0] in derived:
            derived.update(node.output)
        if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] in derived \
                and len(shapes.get(node.input[0], ())) == 2:
            return int(shapes[node.input[0]][0])
    two_d = [s for s in shapes.values() if len(s) == 2]
    return int(max(two_d, key=lambda s: s[0] * s[1])[0]) if two_d else None
