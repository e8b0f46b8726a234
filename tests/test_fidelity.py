"""The fidelity table and README's inference table are what `python -m tests.fidelity` makes of the
specs and the tests, and every claim of a marking is backed by a mark."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
import yaml

from tests import fidelity

REGENERATE = "stale: run `python -m tests.fidelity` and commit openapi/FIDELITY.md and README.md"


def test_the_tables_are_up_to_date() -> None:
    for path, text in fidelity.generated().items():
        current = path.read_text() if path.exists() else ""
        if current != text:
            diff = "".join(
                list(difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(path), "generated"))[:40]
            )
            pytest.fail(f"{path.relative_to(fidelity.ROOT)} is {REGENERATE}\n{diff}")


def test_every_fact_marker_names_its_provider_and_source() -> None:
    facts = fidelity.facts()
    specs = {p.stem for p in fidelity.SPECS.glob("*.yaml")} - {"control"}
    assert specs <= {fact.provider for fact in facts}, "a provider with no documented fact tested"
    for fact in facts:  # a provider or one of its clients (fal-client)
        assert re.fullmatch(r"[a-z][a-z0-9.-]*", fact.provider), (fact.test, fact.provider)
        assert fact.text and fact.source.split("#")[1], fact.test


@pytest.mark.parametrize("name", ["pixazo", "pixelapi", "pixelcut"])
def test_a_spec_that_speaks_of_its_marks_has_them(name: str) -> None:
    """A description that says choices are marked `x-cutout-inference` is backed by marks (two
    places claimed markings that were absent)."""
    path = fidelity.SPECS / f"{name}.yaml"
    marks = [m for m in fidelity.inferences() if m.provider == name]
    assert "x-cutout-inference" in yaml.safe_load(path.read_text())["info"]["description"]
    assert len(marks) >= 8, f"{name}: only {len(marks)} inferences marked"
    assert len({m.pointer for m in marks}) == len(marks)


def test_the_generator_reads_markers_and_marks(tmp_path: Path) -> None:
    """On a tree of its own: a fact citing a spec mark becomes that inference's test; a fact with a
    doc source (a literal or a module constant) is documented; a mark without a reason or a
    malformed marker is refused."""
    (tmp_path / "openapi").mkdir()
    (tmp_path / "tests").mkdir()
    spec = {"info": {}, "paths": {"/v1/x": {"post": {"x-cutout-inference": "chosen", "parameters": []}}}}
    (tmp_path / "openapi" / "acme.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "README.md").write_text(f"intro\n{fidelity.BEGIN}\nold\n{fidelity.END}\nend\n")
    (tmp_path / "tests" / "test_acme.py").write_text(
        "import pytest\n"
        "DOC = 'acme.txt' + '#Errors'\n"
        "class TestA:\n"
        "    @pytest.mark.fact('acme: a documented fact', source=DOC)\n"
        "    def test_doc(self): ...\n"
        "@pytest.mark.fact('acme: the choice', source='openapi/acme.yaml#/paths/~1v1~1x/post')\n"
        "async def test_choice(): ...\n"
    )
    table, readme = fidelity.generated(tmp_path).values()
    assert (
        "| acme | a documented fact | documented | `acme.txt#Errors` | `tests/test_acme.py::TestA::test_doc` |" in table
    )
    assert "| acme | POST /v1/x: chosen | inferred |" in table and "`tests/test_acme.py::test_choice`" in table
    assert readme.startswith("intro\n") and "| acme | POST /v1/x | chosen |" in readme and "old" not in readme
    spec["paths"]["/v1/x"]["post"]["x-cutout-inference"] = " "
    (tmp_path / "openapi" / "acme.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ValueError, match="needs a reason"):
        fidelity.generated(tmp_path)
    (tmp_path / "tests" / "test_acme.py").write_text(
        "import pytest\n@pytest.mark.fact('no provider')\ndef test_x(): ...\n"
    )
    with pytest.raises(ValueError, match=r"pytest\.mark\.fact"):
        fidelity.facts(tmp_path)
