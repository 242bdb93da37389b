"""The offline Bicep evaluator the infra tests rely on gets conditions, loops and modules right."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep_model import Opaque, deploy

MAIN = """
param mode string = 'a'
param names array = [
  'x'
  'y'
]
var on = mode == 'b'
var base = {
  ONE: '1'
}
var extra = on ? {
  TWO: '2'
} : {}

resource always 'T/one@1' = {
  name: 'always'
  properties: union(base, extra)
}

resource maybe 'T/two@1' = if (on) {
  name: 'maybe-${mode}'
}

resource many 'T/three@1' = [for n in names: {
  name: n
  properties: {
    ref: always.id
  }
}]

module child 'child.bicep' = if (!empty(mode)) {
  name: 'child'
  params: {
    value: on ? 'yes' : 'no'
  }
}
"""

CHILD = """
param value string
param unused string = 'default'

resource inner 'T/inner@1' = {
  name: value
  properties: {
    other: unused
  }
}
"""


@pytest.fixture()
def main(tmp_path: Path) -> Path:
    (tmp_path / "child.bicep").write_text(CHILD, encoding="utf-8")
    path = tmp_path / "main.bicep"
    path.write_text(MAIN, encoding="utf-8")
    return path


def by_type(main: Path, **params: object) -> dict[str, list[dict]]:
    """Deployed bodies grouped by resource type."""
    out: dict[str, list[dict]] = {}
    for resource in deploy(params, main):
        out.setdefault(resource.type, []).append(resource.body)
    return out


def test_conditions_and_unions_follow_parameters(main: Path) -> None:
    """`if`, ternaries and union() are evaluated with the given parameter values."""
    off = by_type(main)
    assert "T/two" not in off
    assert off["T/one"][0]["properties"] == {"ONE": "1"}
    on = by_type(main, mode="b")
    assert on["T/two"] == [{"name": "maybe-b"}]
    assert on["T/one"][0]["properties"] == {"ONE": "1", "TWO": "2"}


def test_loops_expand_and_references_stay_opaque(main: Path) -> None:
    """A `for` loop yields one resource per item; resource ids are deployment-time values."""
    many = by_type(main, names=["p", "q", "r"])["T/three"]
    assert [m["name"] for m in many] == ["p", "q", "r"]
    assert many[0]["properties"]["ref"] == Opaque("always.id")


def test_modules_get_their_arguments_and_defaults(main: Path) -> None:
    """Module parameters bind from the call, the rest from defaults."""
    assert by_type(main, mode="b")["T/inner"] == [{"name": "yes", "properties": {"other": "default"}}]
    assert by_type(main)["T/inner"][0]["name"] == "no"


def test_unknown_and_missing_parameters_are_errors(main: Path) -> None:
    """Passing an undeclared parameter or leaving out a required one is caught."""
    with pytest.raises(ValueError, match="unknown parameters"):
        deploy({"nope": 1}, main)
    (main.parent / "child.bicep").write_text(
        CHILD.replace("param value string", "param value string\nparam needed string")
    )
    with pytest.raises(ValueError, match="required parameters not given"):
        deploy({}, main)
