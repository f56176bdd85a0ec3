"""Orders CSV -> daily totals."""

import csv
import io


def run(csv_text):
    daily = {}
    for row in csv.DictReader(io.StringIO(csv_text)):
        day = row["date"]
        entry = daily.setdefault(day, {"date": day, "orders": 0, "total": 0.0})
        entry["orders"] += 1
        entry["total"] += float(row["amount"])
    return {"daily": list(daily.values()), "rejected": 0}
