"""Prices with discounts: the example repository of the "review a PR" tutorial (change.diff is the PR)."""


def apply_discount(price, percent):
    """``price`` reduced by ``percent`` (0-100), rounded to cents."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    return round(price * (100 - percent) / 100, 2)
