"""Every Bicep file parses, completely, and azure.yaml points azd at it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.bicep_model import INFRA, REPO, bicep_files, template

DECLARATIONS = {
    "param": "parameters",
    "var": "variables",
    "resource": "resources",
    "module": "modules",
    "output": "outputs",
}


def test_infra_has_the_expected_files() -> None:
    """main.bicep, its parameters file and small modules exist."""
    names = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
    assert "main.bicep" in names
    assert (INFRA / "main.parameters.json").is_file()
    assert len(names) >= 5, names
    for path in bicep_files():
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, f"{path} is not small"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_file_parses(path: Path) -> None:
    """pycep parses the file into a tree with at least one declaration."""
    tree = template(path).tree
    assert any(tree.get(key) for key in DECLARATIONS.values()), f"{path}: nothing parsed"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_parser_saw_every_top_level_declaration(path: Path) -> None:
    """No declaration is silently dropped (pycep loses sibling nested resources, so we declare flat)."""
    tpl = template(path)
    for keyword, key in DECLARATIONS.items():
        declared = set(re.findall(rf"^{keyword}\s+(\w+)\s", tpl.text, re.MULTILINE))
        assert declared == set(tpl.tree.get(key, {})), f"{path.name}: {keyword} mismatch"
    nested = re.findall(r"^[ \t]+resource[ \t]+\w+[ \t]+'", tpl.text, re.MULTILINE)
    assert not nested, f"{path.name}: nest-free child resources please (use parent:), found {nested}"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_module_reference_resolves(path: Path) -> None:
    """Each `module x 'path'` names a .bicep file that exists."""
    tpl = template(path)
    for symbol in tpl.modules:
        assert tpl.module_path(symbol).is_file(), f"{path.name}: module {symbol} -> missing file"


def _azure_yaml() -> str:
    return (REPO / "azure.yaml").read_text(encoding="utf-8")


def test_azure_yaml_declares_the_function_service() -> None:
    """Service `api` is this folder, Python, hosted on Azure Functions; infra is Bicep in infra/."""
    text = _azure_yaml()
    services = text[text.index("services:") :]
    assert re.search(r"^  api:\s*$", services, re.MULTILINE)
    assert re.search(r"^    project: \.\s*$", services, re.MULTILINE)
    assert re.search(r"^    language: python\s*$", services, re.MULTILINE)
    assert re.search(r"^    host: function\s*$", services, re.MULTILINE)
    assert re.search(r"^  provider: bicep\s*$", text, re.MULTILINE)
    assert re.search(r"^  path: infra\s*$", text, re.MULTILINE)


def test_azd_finds_the_app_by_its_service_tag() -> None:
    """The function app carries `azd-service-name: api`, matching azure.yaml's service."""
    from tests.infra.bicep_model import deploy

    sites = [r for r in deploy({"environmentName": "dev", "location": "eastus"}) if r.type == "Microsoft.Web/sites"]
    assert len(sites) == 1
    assert sites[0].body["tags"]["azd-service-name"] == "api"


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_bare_comparison_in_a_ternary(path: Path) -> None:
    """pycep reads `a == 'x' ? b : c` as `a == ('x' ? b : c)`; bind the comparison to a var first."""
    for number, line in enumerate(template(path).text.splitlines(), start=1):
        assert not re.search(r"(==|!=|=~|!~)[^?()]*\?[^?]", line), f"{path.name}:{number}: {line.strip()}"
