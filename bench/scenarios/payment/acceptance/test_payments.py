import logging
import unittest

from payments.service import PaymentService

PAN = "4111111111111111"
CVV = "123"


class Gateway:
    def __init__(self):
        self.calls = []

    def charge(self, pan, cvv, amount_cents, currency):
        self.calls.append((pan, cvv, amount_cents, currency))
        return f"tx{len(self.calls)}"


class Payments(unittest.TestCase):
    def setUp(self):
        self.gateway = Gateway()
        self.svc = PaymentService(self.gateway)

    def test_charge_ok_and_no_card_data_in_result(self):
        res = self.svc.charge(PAN, CVV, 1999, "USD")
        self.assertEqual(res["transaction_id"], "tx1")
        self.assertEqual(res["card_last4"], "1111")
        self.assertNotIn(PAN, repr(res))
        self.assertNotIn("'123'", repr(res))

    def test_no_card_data_in_logs(self):
        with self.assertLogs("payments", level=logging.DEBUG) as logs:
            self.svc.charge(PAN, CVV, 500, "EUR")
        text = "\n".join(logs.output)
        self.assertNotIn(PAN, text)
        self.assertNotIn("cvv 123", text.lower())
        self.assertIn("1111", text)

    def test_validation(self):
        bad = [("4111111111111112", CVV, 100, "USD"), ("41111111", CVV, 100, "USD"), ("4111-1111-1111-1111", CVV, 100, "USD"),
               (PAN, "12", 100, "USD"), (PAN, "12a", 100, "USD"), (PAN, CVV, 0, "USD"), (PAN, CVV, -5, "USD"),
               (PAN, CVV, 10.5, "USD"), (PAN, CVV, 100, "GBP")]
        for args in bad:
            with self.assertRaises(ValueError, msg=repr(args)):
                self.svc.charge(*args)
        self.assertEqual(self.gateway.calls, [])

    def test_idempotency(self):
        first = self.svc.charge(PAN, CVV, 700, "JPY", idempotency_key="k1")
        again = self.svc.charge(PAN, CVV, 700, "JPY", idempotency_key="k1")
        self.assertEqual(first, again)
        self.assertEqual(len(self.gateway.calls), 1)
        with self.assertRaises(ValueError):
            self.svc.charge(PAN, CVV, 800, "JPY", idempotency_key="k1")
        self.svc.charge(PAN, CVV, 700, "JPY", idempotency_key="k2")
        self.assertEqual(len(self.gateway.calls), 2)
