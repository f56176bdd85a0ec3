import unittest

from pipeline.etl import run

CSV = """order_id,date,amount
a1,2024-03-02,10.50
a2,2024-03-01, 4.25
a3,2024-03-02,1.10
a1,2024-03-02,10.50
bad1,2024-13-01,3.00
bad2,2024-03-01,abc
bad3,,1.00
bad4,2024-03-01,-2
a4,2024-03-01,0.70
"""


class Etl(unittest.TestCase):
    def test_clean_input(self):
        out = run("order_id,date,amount\nx,2024-01-01,1.00\ny,2024-01-01,2.005\n")
        self.assertEqual(out, {"daily": [{"date": "2024-01-01", "orders": 2, "total": 3.0}], "rejected": 0})

    def test_messy_input(self):
        out = run(CSV)
        self.assertEqual(out["rejected"], 4)
        self.assertEqual(out["daily"], [{"date": "2024-03-01", "orders": 2, "total": 4.95},
                                        {"date": "2024-03-02", "orders": 2, "total": 11.6}])

    def test_missing_column_values(self):
        out = run("order_id,date,amount\nz,2024-01-05\n")
        self.assertEqual(out, {"daily": [], "rejected": 1})

    def test_empty(self):
        self.assertEqual(run("order_id,date,amount\n"), {"daily": [], "rejected": 0})
