"""The converter every native-runtime format shares (runs in a converters worker).

The model is opened in its own runtime and run once on seeded inputs; the Conversion
carries the original bytes (and companions) so that later calls in a worker reopen it.
A graph-only file is refused before any runtime sees it: it must never be fingerprinted
as if it were a trained model.
"""

from __future__ import annotations

from modelhound.converters.interface import Conversion
from modelhound.errors import ConversionError
from modelhound.records import FoundModel

from modelhound.runtimes.interface import GRAPH_ONLY, WEIGHTS_ONLY


def native_model(found: FoundModel):  # type: ignore[no-untyped-def]
    """The NativeModel of an extracted model."""
    from modelhound.runtimes.interface import NativeModel

    return NativeModel(found.data, found.entry.subformat, dict(found.companions),
                       found.entry.entry)


def convert(found: FoundModel) -> Conversion:
    """Open the model in its runtime, check it computes, and describe its inputs."""
    from modelhound.converters.fidelity import seeded_inputs
    from modelhound.runtimes import RUNTIMES

    entry = found.entry
    rt = RUNTIMES[entry.format]
    model = native_model(found)
    reason = rt.graph_only(model)
    if reason:
        if not reason.startswith(WEIGHTS_ONLY):
            reason = f"{GRAPH_ONLY}: {reason}"
        return Conversion(entry.sha256, False, runtime=rt.name, reason=f"{entry.entry}: {reason}")
    try:
        runner = rt.open(model)
        version = rt.version()
        outputs = runner.run(seeded_inputs(runner.inputs, batch=1))
    except ConversionError as exc:
        return Conversion(entry.sha256, False, runtime=rt.name, reason=str(exc))
    except (ValueError, RuntimeError, TypeError) as exc:
        return Conversion(entry.sha256, False, runtime=rt.name,
                          reason=f"{entry.entry}: {rt.name} failed on seeded inputs: "
                                 f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    note = ""
    if outputs and all(float(o.max(initial=0) - o.min(initial=0)) == 0 for o in outputs) and \
            all(o.size > 1 for o in outputs):
        note = "every output is constant on seeded inputs"
    return Conversion(
        entry.sha256, True, runtime=rt.name, converter=f"native {rt.name} {version}".strip(),
        inputs=tuple(runner.inputs), outputs=tuple(runner.outputs), reason=note,
        native=found.data, native_companions=tuple(sorted(found.companions.items())),
        native_subformat=entry.subformat,
    )
