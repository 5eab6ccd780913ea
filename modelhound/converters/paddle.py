"""Paddle inference models (``.pdmodel`` program + ``.pdiparams`` parameters) to ONNX.

paddle2onnx 1.3.1's C++ core (``paddle2onnx_cpp2py_export``) converts the legacy
ProgramDesc format without paddlepaddle: only that extension is loaded, from the installed
package's folder, because the package's ``__init__`` imports paddle (dependency-probe-2.md
section 7; paddle2onnx 2.x needs paddlepaddle, 721 MB, and would downgrade onnx). The ONNX
form is then handled as an ONNX model found as is (:mod:`.onnx_model`: Constant weights
moved to initializers, checked against onnxruntime). Paddle's own runtime is not installed,
so the conversion's fidelity against Paddle is not measured here; against the same
network's published ONNX export (rapidocr) it is measured by ``bench/coverage``.

The new PIR format (``inference.json``) is not read by the 1.3.1 core: such files are
reported with its error.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import tempfile
from functools import lru_cache
from typing import Any

from modelhound.converters.interface import Conversion
from modelhound.errors import ConversionError
from modelhound.records import FoundModel

OPSET = 11
VERSION = "1.3.1"


@lru_cache(maxsize=1)
def _core() -> Any:
    """The paddle2onnx C++ extension, loaded without the package (which imports paddle)."""
    spec = importlib.util.find_spec("paddle2onnx")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("Paddle models need paddle2onnx 1.3.1 (the 'runtimes' extra, "
                              "scripts/install-runtimes.sh)")
    folder = list(spec.submodule_search_locations)[0]
    ext = next((f for f in sorted(os.listdir(folder))
                if f.startswith("paddle2onnx_cpp2py_export") and f.endswith(".so")), None)
    if ext is None:
        raise ConversionError(f"{folder}: paddle2onnx's C++ core is missing")
    core_spec = importlib.util.spec_from_file_location("paddle2onnx_cpp2py_export",
                                                       os.path.join(folder, ext))
    assert core_spec is not None and core_spec.loader is not None
    module = importlib.util.module_from_spec(core_spec)
    core_spec.loader.exec_module(module)
    return module


def to_onnx(program: bytes, params: bytes) -> bytes:
    """ONNX bytes of a Paddle inference program and its parameters file."""
    core = _core()
    with tempfile.TemporaryDirectory() as tmp:
        model_file, params_file = os.path.join(tmp, "m.pdmodel"), os.path.join(tmp, "m.pdiparams")
        with open(model_file, "wb") as fh:
            fh.write(program)
        with open(params_file, "wb") as fh:
            fh.write(params)
        try:
            # (model, params, opset, auto_upgrade_opset, verbose, enable_checker,
            #  experimental_op, optimize, custom ops, deploy backend, calibration file,
            #  external file, export_fp16)
            out = core.export(model_file, params_file, OPSET, True, False, True, True, True,
                              {}, "onnxruntime", "", "", False)
        except Exception as exc:  # noqa: BLE001 - the core raises RuntimeError with its log
            said = str(exc).strip()
            last = said.splitlines()[-1][:200] if said else type(exc).__name__
            raise ConversionError(f"paddle2onnx cannot convert it: {last}") from exc
    if not out:
        raise ConversionError("paddle2onnx produced no model (unsupported operators?)")
    return bytes(out)


def convert(found: FoundModel) -> Conversion:
    """The Paddle program with its parameters file, converted and checked as ONNX."""
    from modelhound.converters import onnx_model

    entry = found.entry.entry
    params = [v for k, v in sorted(found.companions.items())]
    if not params:
        return Conversion(found.entry.sha256, False,
                          reason=f"{entry}: graph-only: a Paddle program without its "
                                 "parameters file")
    try:
        onnx_bytes = to_onnx(found.data, params[0])
    except ConversionError as exc:
        return Conversion(found.entry.sha256, False, converter=f"paddle2onnx {VERSION}",
                          reason=f"{entry}: {exc}")
    result = onnx_model.convert(dataclasses.replace(found, data=onnx_bytes, companions={}))
    note = f"converted by paddle2onnx {VERSION} (opset {OPSET}); no Paddle runtime to compare with"
    return dataclasses.replace(result, converter=f"paddle2onnx {VERSION}",
                               reason="; ".join(r for r in (note, result.reason) if r))
