"""``python -m modelhound`` runs the command line."""

from modelhound.cli import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
