"""KPI snapshots: the report is computed by a job and read by the route.

``compute_kpis`` reads every table (paged Scans): minutes on a large programme, far
past API Gateway's 29 s. So ``KpiSnapshotFunction`` computes it (weekly, and on
``POST /reports/kpis/snapshots``) and stores the result as one item of the reports
table; ``GET /reports/kpis`` reads the newest one: one Query of one item, whatever the
size of the programme. The snapshot is exactly what ``compute_kpis`` returned at its
``generated_at``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from memberflow.config import Programme
from memberflow.reports.kpis import compute_kpis
from memberflow.runtime import SettingsError
from memberflow.store.models import ReportSnapshot

KPIS = "kpis"
KEEP = timedelta(days=400)  # a year of snapshots, for period-over-period trends
MAX_BODY_BYTES = 350_000  # under DynamoDB's 400 KB item limit, with the keys


class SnapshotTooLarge(ValueError):
    pass


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_snapshot(programme: Programme, now: datetime) -> dict:
    """Compute the KPIs at ``now`` and store them; returns the KPIs."""
    kpis = compute_kpis(programme, now)
    body = zlib.compress(json.dumps(kpis, separators=(",", ":")).encode(), 9)
    if len(body) > MAX_BODY_BYTES:
        raise SnapshotTooLarge(
            f"KPI snapshot is {len(body)} bytes compressed (max {MAX_BODY_BYTES})"
        )
    ReportSnapshot(report=KPIS, generated_at=_stamp(now), body=body, expires_at=now + KEEP).save()
    return kpis


def latest_snapshot() -> dict | None:
    """The newest KPI snapshot, or ``None``: one Query that reads one item."""
    for item in ReportSnapshot.query(KPIS, scan_index_forward=False, limit=1, consistent_read=True):
        return json.loads(zlib.decompress(item.body))
    return None


def kpi_snapshot_function(environ: Mapping[str, str]) -> str:
    """The function that computes snapshots (template.yaml KpiSnapshotFunction)."""
    name = environ.get("KPI_SNAPSHOT_FUNCTION", "")
    if not name:
        raise SettingsError("KPI_SNAPSHOT_FUNCTION", "is required (the KPI snapshot function)")
    return name
