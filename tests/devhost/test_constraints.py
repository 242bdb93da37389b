"""Unit tests of inline route constraints."""

from __future__ import annotations

import pytest

from devhost.constraints import KNOWN_CONSTRAINTS, Constraint, ConstraintError


def test_int_is_32_bit_and_long_64_bit() -> None:
    assert Constraint("int").accepts(str(2**31 - 1))
    assert not Constraint("int").accepts(str(2**31))
    assert Constraint("long").accepts(str(2**31))
    assert not Constraint("long").accepts(str(2**63))


def test_names_are_case_insensitive() -> None:
    assert Constraint("INT").accepts("5")
    assert Constraint("Alpha").accepts("abc")


def test_regex_is_a_case_insensitive_search() -> None:
    """Like ASP.NET: IsMatch with IgnoreCase, so unanchored patterns match anywhere."""
    assert Constraint("regex", ("b+",)).accepts("aBBc")
    assert not Constraint("regex", ("^b+$",)).accepts("aBBc")


def test_decimal_datetime_required() -> None:
    assert Constraint("decimal").accepts("10.25") and not Constraint("decimal").accepts("1_0")
    assert Constraint("datetime").accepts("2024-02-29T10:00:00") and not Constraint("datetime").accepts("2024-02-30")
    assert Constraint("required").accepts("x") and not Constraint("required").accepts("")


@pytest.mark.parametrize(
    ("name", "args"),
    [("nosuch", ()), ("int", ("1",)), ("min", ()), ("min", ("x",)), ("range", ("1",)), ("regex", ("(",))],
)
def test_bad_constraints_raise(name: str, args: tuple[str, ...]) -> None:
    with pytest.raises(ConstraintError):
        Constraint(name, args)


def test_every_known_constraint_builds() -> None:
    """KNOWN_CONSTRAINTS lists only names that build (with suitable arguments)."""
    args = {
        "regex": ("x",),
        "minlength": ("1",),
        "maxlength": ("1",),
        "length": ("1",),
        "min": ("1",),
        "max": ("1",),
        "range": ("1", "2"),
    }
    for name in KNOWN_CONSTRAINTS:
        assert Constraint(name, args.get(name, ())).name == name


def test_more_digits_than_any_integer_are_no_match_not_an_error() -> None:
    """Python's int() refuses over 4300 digits: an integer constraint must answer no, never raise."""
    huge = "9" * 5000
    for name, args in (("int", ()), ("long", ()), ("min", ("1",)), ("max", ("1",)), ("range", ("1", "2"))):
        assert not Constraint(name, args).accepts(huge)
    assert Constraint("long", ()).accepts("0" * 40 + "42")
