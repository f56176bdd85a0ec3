"""Card payments: no card data in logs or results, validated input, idempotent charges."""

import logging
import threading

log = logging.getLogger("payments")
CURRENCIES = {"USD", "EUR", "JPY"}


def luhn_ok(pan):
    digits = [int(d) for d in reversed(pan)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def masked(pan):
    return "****" + pan[-4:]


def validate(pan, cvv, amount_cents, currency):
    if not (isinstance(pan, str) and pan.isdigit() and 13 <= len(pan) <= 19 and luhn_ok(pan)):
        raise ValueError("invalid card number")
    if not (isinstance(cvv, str) and cvv.isdigit() and len(cvv) in (3, 4)):
        raise ValueError("invalid cvv")
    if not (isinstance(amount_cents, int) and not isinstance(amount_cents, bool) and amount_cents > 0):
        raise ValueError("amount must be a positive integer number of cents")
    if currency not in CURRENCIES:
        raise ValueError(f"unsupported currency {currency!r}")


class PaymentService:
    def __init__(self, gateway):
        self.gateway = gateway  # gateway.charge(pan, cvv, amount_cents, currency) -> transaction id
        self._done = {}
        self._lock = threading.Lock()

    def charge(self, pan, cvv, amount_cents, currency, idempotency_key=None):
        validate(pan, cvv, amount_cents, currency)
        with self._lock:
            if idempotency_key is not None and idempotency_key in self._done:
                request, result = self._done[idempotency_key]
                if request != (masked(pan), amount_cents, currency):
                    raise ValueError("idempotency key reused with a different request")
                log.info("replaying charge %s", result["transaction_id"])
                return dict(result)
            log.info("charging card %s amount %s %s", masked(pan), amount_cents, currency)
            tx = self.gateway.charge(pan, cvv, amount_cents, currency)
            result = {"transaction_id": tx, "card_last4": pan[-4:], "amount_cents": amount_cents,
                      "currency": currency, "status": "approved"}
            if idempotency_key is not None:
                self._done[idempotency_key] = ((masked(pan), amount_cents, currency), result)
        log.info("charged %s", result)
        return dict(result)
