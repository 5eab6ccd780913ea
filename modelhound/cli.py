"""The ``modelhound`` command: parse arguments, run the pipeline, write reports.

No logic lives here: the pipeline scans, the report package formats.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from typing import IO, Iterator, Sequence

from modelhound import __version__
from modelhound.errors import ModelhoundError, ReportError
from modelhound.extractor import Limits
from modelhound.extractor.archive import MiB
from modelhound.records import AppScan


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

    scan = sub.add_parser("scan", help="scan APKs, bundles, zips or folders of them")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--csv", metavar="FILE", help="write findings as CSV")
    scan.add_argument("--json", metavar="FILE", help="write findings as JSON")
    scan.add_argument("--no-table", action="store_true", help="no terminal table, summary only")
    scan.add_argument("--all", action="store_true", help="list apps without models in the table")
    limits_args(scan)

    demo = sub.add_parser("demo", help="build a demo set of apps, scan it and show the report")
    demo.add_argument("--out", default="modelhound-demo", metavar="DIR",
                      help="folder for the demo apps and reports (default %(default)s)")
    limits_args(demo)

    ext = sub.add_parser("extract", help="write every model found to a folder, with a manifest")
    ext.add_argument("paths", nargs="+", metavar="PATH")
    ext.add_argument("--out", required=True, metavar="DIR", help="folder to write models into")
    limits_args(ext)
    return p


def _limits(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Limits:
    if args.max_depth < 0 or args.max_entry_mb <= 0 or args.max_input_mb <= 0:
        parser.error("limits must be positive")
    return Limits(max_depth=args.max_depth, max_entry_bytes=args.max_entry_mb * MiB,
                  max_input_bytes=args.max_input_mb * MiB)


@contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    """Open a report file only when it is written, so a failed run leaves no empty file."""
    tmp = f"{path}.partial"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(tmp, path)
    except OSError as e:
        raise ReportError(f"{path}: cannot write report ({e.strerror or e})") from e


def _write_reports(args: argparse.Namespace, scans: Sequence[AppScan], console: object) -> None:
    from modelhound.report import FORMATS, TableFormat, rows, summary

    all_rows = [r for s in scans for r in rows(s)]
    for name in ("csv", "json"):
        target = getattr(args, name)
        if target:
            with _output(target) as f:
                FORMATS[name].write(all_rows, scans, f)
    if args.no_table:
        console.print(summary(all_rows, scans))  # type: ignore[attr-defined]
    else:
        TableFormat(show_empty=args.all).render(all_rows, scans, console)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    from rich.console import Console

    from modelhound.pipeline import ScanOptions, discover, scan
    from modelhound.progress import RichProgress

    parser = _parser()
    args = parser.parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    limits = _limits(args, parser)
    if args.command == "demo":
        from modelhound.demo import build_demo

        apps_dir = os.path.join(args.out, "apps")
        args.paths = build_demo(apps_dir)
        args.csv = os.path.join(args.out, "findings.csv")
        args.json = os.path.join(args.out, "findings.json")
        args.no_table, args.all = False, True
        args.command = "scan"
        err.print(f"built {len(args.paths)} demo apps in {apps_dir}")
    inputs = discover(args.paths)
    if not inputs:
        err.print(f"modelhound: nothing to scan in {', '.join(args.paths)}")
        return 0
    scans: list[AppScan] = []
    interrupted = False
    try:
        if args.command == "scan":
            with RichProgress(err, enabled=err.is_terminal) as progress:
                try:
                    for result in scan(inputs, ScanOptions(limits), progress):
                        scans.append(result)
                except KeyboardInterrupt:
                    interrupted = True
            _write_reports(args, scans, console)
            for name in ("csv", "json"):
                if getattr(args, name):
                    err.print(f"wrote {getattr(args, name)}")
        elif args.command == "extract":
            from modelhound.extractor.dump import ModelDumper

            dumper = ModelDumper(args.out)
            with RichProgress(err, enabled=err.is_terminal) as progress:
                try:
                    for result in scan(inputs, ScanOptions(limits), progress, dumper.add):
                        scans.append(result)
                except KeyboardInterrupt:
                    interrupted = True
            manifest = dumper.write_manifest()
            console.print(f"wrote {len(dumper.records)} models from {len(scans)} inputs; "
                          f"manifest: {manifest}")
    except ModelhoundError as e:
        err.print(f"modelhound: {e}")
        return 1
    if interrupted:
        err.print(f"modelhound: interrupted; reported the {len(scans)} inputs finished")
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
