"""The venue filters checked before an order goes out: step rounding, minimum quantity and
minimum notional against the nautilus instrument."""

from decimal import Decimal

from nautilus_trader.test_kit.providers import TestInstrumentProvider

from strategies.venue_filters import below_minimum, step_floor


def test_quantities_round_down_to_the_step_toward_zero() -> None:
    assert step_floor(0.0199, Decimal("0.001")) == Decimal("0.019")
    assert step_floor(-0.0199, Decimal("0.001")) == Decimal("-0.019")
    assert step_floor(0.3, Decimal("0.1")) == Decimal("0.3")  # float noise is not a lost step
    assert step_floor(0.0009, Decimal("0.001")) == 0


def test_an_order_below_the_minimum_notional_or_quantity_is_refused_with_the_reason() -> None:
    # Arrange: Binance's BTCUSDT-PERP as nautilus loads it (min 0.001 BTC and 10 USDT)
    perp = TestInstrumentProvider.btcusdt_perp_binance()

    # Act
    small = below_minimum(perp, Decimal("0.002"), 4_000.0)  # 8 USDT
    tiny = below_minimum(perp, Decimal("-0.0005"), 1e6)
    enough = below_minimum(perp, Decimal("-0.003"), 4_000.0)  # 12 USDT

    # Assert
    assert "notional 8.00 is below the venue's minimum 10" in small
    assert "quantity 0.0005 is below the venue's minimum 0.001" in tiny
    assert enough is None
