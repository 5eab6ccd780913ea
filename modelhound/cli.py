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

    def report_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--csv", metavar="FILE", help="write findings as CSV")
        sp.add_argument("--json", metavar="FILE", help="write findings as JSON")
        sp.add_argument("--no-table", action="store_true", help="no terminal table, summary only")
        sp.add_argument("--all", action="store_true", help="list apps without models in the table")

    scan = sub.add_parser("scan", help="scan APKs, bundles, zips or folders of them")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    report_args(scan)
    scan.add_argument("--db", metavar="FILE",
                      help="results database (default: modelhound.db beside the CSV/JSON "
                           "report, else in the current folder)")
    scan.add_argument("--resume", action="store_true",
                      help="continue the scan in --db, skipping inputs already finished")
    scan.add_argument("--no-convert", action="store_true",
                      help="inventory only: do not convert and check the models found")
    limits_args(scan)

    demo = sub.add_parser("demo", help="build a demo set of apps, scan it and show the report")
    demo.add_argument("--out", default="modelhound-demo", metavar="DIR",
                      help="folder for the demo apps and reports (default %(default)s)")
    limits_args(demo)

    ext = sub.add_parser("extract", help="write every model found to a folder, with a manifest")
    ext.add_argument("paths", nargs="+", metavar="PATH")
    ext.add_argument("--out", required=True, metavar="DIR", help="folder to write models into")
    limits_args(ext)

    rep = sub.add_parser("report", help="export the findings kept in a results database")
    rep.add_argument("--db", required=True, metavar="FILE")
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
        raise ReportError(f"{path}: cannot write report ({e.strerror or e})") from e


def _write_reports(args: argparse.Namespace, rows: list[dict[str, Any]],
                   apps: list[dict[str, Any]], console: Any, err: Any) -> None:
    from modelhound.report import FORMATS, TableFormat, summary
    from modelhound.report.shared import with_shared_counts

    rows = with_shared_counts(rows)
    for name in ("csv", "json"):
        target = getattr(args, name)
        if target:
            with _output(target) as f:
                FORMATS[name].write(rows, apps, f)
    if args.no_table:
        console.print(summary(rows, apps))
    else:
        TableFormat(show_empty=args.all).render(rows, apps, console)
    for name in ("csv", "json"):
        if getattr(args, name):
            err.print(f"wrote {getattr(args, name)}")


def _default_db(args: argparse.Namespace) -> str:
    for report in (args.csv, args.json):
        if report:
            return os.path.join(os.path.dirname(os.path.abspath(report)), "modelhound.db")
    return "modelhound.db"


def _cmd_scan(args: argparse.Namespace, limits: Limits, console: Any, err: Any) -> int:
    from modelhound.pipeline import ScanOptions, discover, scan
    from modelhound.progress import RichProgress
    from modelhound.report import app_record, rows
    from modelhound.store import ResultStore

    inputs = discover(args.paths)
    store = ResultStore(args.db or _default_db(args), resume=args.resume)
    done = store.done() if args.resume else {}
    todo = [p for p in inputs if p not in done]
    if args.resume:
        err.print(f"resuming {store.path}: {len(inputs) - len(todo)} inputs already done, "
                  f"{len(todo)} to scan")
    interrupted = False
    from modelhound.analysis import Analyzer

    try:
        with RichProgress(err, enabled=err.is_terminal) as progress, \
                Analyzer(convert=not args.no_convert) as analyzer:
            for result in scan(todo, ScanOptions(limits), progress, seen=store.first_by_hash(),
                               analyzer=analyzer):
                store.record(app_record(result), rows(result))
    except KeyboardInterrupt:
        interrupted = True
    _write_reports(args, store.rows(), store.apps(), console, err)
    store.close()
    if interrupted:
        err.print(f"modelhound: interrupted; finished inputs are kept in {store.path} "
                  "(continue with --resume)")
        return 130
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

    store = open_existing(args.db)
    _write_reports(args, store.rows(), store.apps(), console, err)
    store.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    from rich.console import Console

    parser = _parser()
    args = parser.parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    try:
        if args.command == "report":
            return _cmd_report(args, console, err)
        limits = _limits(args, parser)
        if args.command == "demo":
            from modelhound.demo import build_demo

            apps_dir = os.path.join(args.out, "apps")
            args.paths = build_demo(apps_dir)
            err.print(f"built {len(args.paths)} demo apps in {apps_dir}")
            args.csv = os.path.join(args.out, "findings.csv")
            args.json = os.path.join(args.out, "findings.json")
            args.db = os.path.join(args.out, "modelhound.db")
            args.no_table, args.all, args.resume, args.no_convert = False, True, False, False
            return _cmd_scan(args, limits, console, err)
        if args.command == "scan":
            return _cmd_scan(args, limits, console, err)
        return _cmd_extract(args, limits, console, err)
    except ModelhoundError as e:
        err.print(f"modelhound: {e}")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
