"""Sales report (ported to Python 3)."""


def summarize(rows):
    totals = {}
    counts = {}
    for row in rows:
        name = str(row["region"]).strip()
        if name not in totals:
            totals[name] = 0
            counts[name] = 0
        totals[name] += row["cents"]
        counts[name] += 1
    out = {}
    for name, total in totals.items():
        out[name] = {"total_cents": total, "average_cents": total // counts[name], "count": counts[name]}
    return out


def format_report(rows):
    summary = summarize(rows)
    lines = []
    for name in sorted(summary.keys()):
        s = summary[name]
        lines.append("%s: %d sales, %d.%02d total" % (name, s["count"], s["total_cents"] // 100, s["total_cents"] % 100))
    return "\n".join(lines)


def top_regions(rows, n):
    summary = summarize(rows)
    ranked = sorted(summary.items(), key=lambda kv: -kv[1]["total_cents"])
    return [ranked[i][0] for i in range(min(n, len(ranked)))]


def parse_cents(text):
    try:
        return int(round(float(text) * 100))
    except ValueError:
        print("bad amount", text)
        return 0
