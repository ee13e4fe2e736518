"""The load report: one JSON file per run (dry runs too) and a readable terminal summary."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cadastre_gis.settings import Settings


def report_path(settings: Settings, source: str | Path, explicit: str | Path | None = None
                ) -> Path:
    """Where this run's report goes: ``--report`` or ``$CADASTRE_DATA_DIR/reports/<ts>-<file>.json``."""
    if explicit:
        return Path(explicit)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).name)[:80]
    return settings.data_path / "reports" / f"{stamp}-{name}.json"


def write(report: dict[str, Any], path: Path) -> Path:
    """Write the report as UTF-8 JSON (Cyrillic kept readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str),
                   encoding="utf-8")
    tmp.replace(path)
    return path


def summary(report: dict[str, Any], max_lines: int = 200) -> str:
    """A few readable lines: outcome, counts, each rejected record with its reason."""
    c = report.get("counts", {})
    lines = [f"{report.get('kind')} from {Path(str(report.get('file', {}).get('path', ''))).name}"
             f": {report.get('status')}"
             + (" (dry run: nothing was written)" if report.get("dry_run") else "")]
    if report.get("error"):
        lines.append(f"  error: {report['error']}")
    f = report.get("file", {})
    if f.get("encoding", {}).get("name"):
        lines.append(f"  encoding: {f['encoding']['name']} ({f['encoding']['how']})")
    for r in f.get("repairs", []):
        lines.append(f"  mended: {r}")
    if f.get("crs", {}).get("source"):
        lines.append(f"  CRS: {f['crs']['source']} ({f['crs']['how']})")
    tr = report.get("transformation")
    if tr:
        acc = tr.get("accuracy_m")
        lines.append(f"  transformation: {tr['description']}"
                     + (f", accuracy {acc} m" if acc is not None else ", accuracy unknown"))
    fm = report.get("fields", {})
    if fm.get("mapped"):
        lines.append("  fields: " + ", ".join(f"{s} → {d}" for s, d in fm["mapped"].items()))
    if fm.get("unknown"):
        lines.append("  unknown fields (ignored): " + ", ".join(fm["unknown"]))
    if c:
        lines.append("  " + ", ".join(f"{k} {v}" for k, v in c.items()))
    for h in report.get("hints", []):
        lines.append(f"  hint: {h}")
    shown = 0
    for r in report.get("rejected", []):
        if shown >= max_lines:
            lines.append(f"  … {len(report['rejected']) - shown} more rejected records "
                         "in the report")
            break
        key = f" {r['key']}" if r.get("key") else ""
        lines.append(f"  rejected row {r['row']}{key}: {'; '.join(r['reasons'])}")
        shown += 1
    shown = 0
    for w in report.get("warnings", []):
        if shown >= max_lines:
            lines.append(f"  … {len(report['warnings']) - shown} more warnings in the report")
            break
        key = f" {w['key']}" if w.get("key") else ""
        lines.append(f"  warning row {w['row']}{key}: {'; '.join(w['messages'])}")
        shown += 1
    if report.get("transaction_id"):
        lines.append(f"  registry transaction {report['transaction_id']}, "
                     f"source document {report.get('source_document_id')}")
    return "\n".join(lines)
