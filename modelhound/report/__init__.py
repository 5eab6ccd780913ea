"""Report formats: an explicit mapping from format name to writer."""

from __future__ import annotations

from typing import Mapping

from modelhound.report.csv import CsvFormat
from modelhound.report.html import HtmlFormat
from modelhound.report.interface import ReportFormat
from modelhound.report.json import JsonFormat, app_record
from modelhound.report.rows import COLUMNS, cell_text, rows
from modelhound.report.table import TableFormat, summary

FORMATS: Mapping[str, ReportFormat] = {
    "table": TableFormat(),
    "csv": CsvFormat(),
    "json": JsonFormat(),
    "html": HtmlFormat(),
}

__all__ = ["COLUMNS", "FORMATS", "CsvFormat", "HtmlFormat", "JsonFormat", "ReportFormat", "TableFormat",
           "app_record", "cell_text", "rows", "summary"]
