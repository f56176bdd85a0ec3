"""Card payments."""

import logging

log = logging.getLogger("payments")


class PaymentService:
    def __init__(self, gateway):
        self.gateway = gateway  # gateway.charge(pan, cvv, amount_cents, currency) -> transaction id

    def charge(self, pan, cvv, amount_cents, currency, idempotency_key=None):
        log.info("charging card %s cvv %s amount %s %s", pan, cvv, amount_cents, currency)
        tx = self.gateway.charge(pan, cvv, amount_cents, currency)
        result = {"transaction_id": tx, "pan": pan, "amount_cents": amount_cents, "currency": currency,
                  "status": "approved"}
        log.info("charged %s", result)
        return result
