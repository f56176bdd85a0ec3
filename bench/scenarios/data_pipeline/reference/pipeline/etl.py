"""Orders CSV -> daily totals, skipping (and counting) malformed rows and ignoring duplicate orders."""

import csv
import datetime
import io


def parse(row):
    """(order_id, date, amount) or None for a malformed row."""
    try:
        order_id = (row.get("order_id") or "").strip()
        day = datetime.date.fromisoformat((row.get("date") or "").strip())
        amount = float((row.get("amount") or "").strip())
    except (ValueError, AttributeError):
        return None
    if not order_id or amount < 0 or amount != amount:
        return None
    return order_id, day.isoformat(), amount


def run(csv_text):
    daily, seen, rejected = {}, set(), 0
    for row in csv.DictReader(io.StringIO(csv_text)):
        parsed = parse(row)
        if parsed is None:
            rejected += 1
            continue
        order_id, day, amount = parsed
        if order_id in seen:
            continue
        seen.add(order_id)
        entry = daily.setdefault(day, {"date": day, "orders": 0, "total": 0.0})
        entry["orders"] += 1
        entry["total"] += amount
    out = [dict(e, total=round(e["total"], 2)) for _, e in sorted(daily.items())]
    return {"daily": out, "rejected": rejected}
