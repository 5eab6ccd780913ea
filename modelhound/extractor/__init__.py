"""The extractor stage: every model inside an app, found by content, with app metadata."""

from modelhound.extractor.app import ARCHIVE_KINDS, Extraction, extract, sha256_file
from modelhound.extractor.archive import Limits

__all__ = ["ARCHIVE_KINDS", "Extraction", "Limits", "extract", "sha256_file"]
