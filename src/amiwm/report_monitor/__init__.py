"""The monitor's self-contained HTML page (`ami-cli monitor --html`); see `page`."""

from amiwm.report_monitor.page import MAX_POINTS, MonitorPage, check_page_path, minmax

__all__ = ["MAX_POINTS", "MonitorPage", "check_page_path", "minmax"]
