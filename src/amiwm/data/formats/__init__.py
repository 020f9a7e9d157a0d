"""Sensor-stream importers: NASA C-MAPSS text, CSV and Parquet tables, and a row streamer.

``read_sensors(spec)`` reads a whole file into a ``SensorTable`` (``to_store`` writes it as an
amiwm episode store); ``stream_rows(spec)`` yields ``Row`` / ``BadRow`` one line at a time for
live monitoring. Errors name the file, row and column.
"""

from amiwm.data.formats.cmapss import COLUMNS as CMAPSS_COLUMNS
from amiwm.data.formats.cmapss import read_rul
from amiwm.data.formats.columns import MISSING_POLICIES
from amiwm.data.formats.reader import read_sensors
from amiwm.data.formats.stream import BadRow, Row, RowStream, stream_rows
from amiwm.data.formats.table import (
    SensorTable,
    cut_units,
    drop_constant,
    row_rul,
)

__all__ = [
    "CMAPSS_COLUMNS",
    "MISSING_POLICIES",
    "BadRow",
    "Row",
    "RowStream",
    "SensorTable",
    "cut_units",
    "drop_constant",
    "read_rul",
    "read_sensors",
    "row_rul",
    "stream_rows",
]
