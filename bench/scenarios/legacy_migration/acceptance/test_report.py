import contextlib
import io
import unittest

ROWS = [{"region": " north ", "cents": 1001}, {"region": "south", "cents": 250}, {"region": "north", "cents": 2000},
        {"region": "south", "cents": 5}]


class Report(unittest.TestCase):
    def test_summarize(self):
        from legacy.report import summarize

        s = summarize(ROWS)
        self.assertEqual(s["north"], {"total_cents": 3001, "average_cents": 1500, "count": 2})
        self.assertEqual(s["south"], {"total_cents": 255, "average_cents": 127, "count": 2})
        self.assertIsInstance(s["north"]["average_cents"], int)

    def test_format(self):
        from legacy.report import format_report

        self.assertEqual(format_report(ROWS), "north: 2 sales, 30.01 total\nsouth: 2 sales, 2.55 total")

    def test_top(self):
        from legacy.report import top_regions

        self.assertEqual(top_regions(ROWS, 1), ["north"])
        self.assertEqual(top_regions(ROWS, 5), ["north", "south"])

    def test_parse(self):
        from legacy.report import parse_cents

        self.assertEqual(parse_cents("12.34"), 1234)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(parse_cents("oops"), 0)
        self.assertIn("bad amount", out.getvalue())
