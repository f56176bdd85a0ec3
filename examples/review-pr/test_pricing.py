import pytest

from pricing import apply_discount


def test_apply_discount():
    assert apply_discount(80.0, 25) == 60.0


def test_apply_discount_rejects_bad_percent():
    with pytest.raises(ValueError):
        apply_discount(10.0, 120)
