"""The layers' rules of ARCHITECTURE.md, read from the code: every module's imports (ast), and the
shape of each provider's folder. A rule broken here is a design decision to make in the open: change
ARCHITECTURE.md and this table together, or move the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "mockserver"
PROVIDER_FILES = {"__init__.py", "routes.py", "handlers.py", "vocabulary.py"}

# A layer (a package, or a top-level module) -> the layers of the server it may import. Everything
# may import itself and the settings leaf; nothing in the server imports the kit (contracts).
MAY_IMPORT: dict[str, set[str]] = {
    "__init__": set(),
    "settings": set(),
    "core": set(),
    "engine": set(),
    "web": {"core"},
    "runtime": {"core", "engine"},
    "providers": {"core", "engine", "runtime", "web"},
    "control": {"core", "runtime", "web"},
    "pipeline": {"core", "engine", "runtime", "web", "providers"},
    # The dashboard reads jobs (runtime), words them as their provider does (providers), keeps to
    # the control plane's lock (control) and decodes a poster frame (engine); it acts only through
    # the control plane's HTTP API.
    "dashboard": {"core", "engine", "runtime", "web", "providers", "control"},
    "app": {"core", "engine", "runtime", "web", "providers", "control", "pipeline", "dashboard"},
    "server": {"core", "engine", "runtime", "web", "providers", "control", "app"},
    "cli": {"core", "engine", "runtime", "web", "providers", "control", "app", "server"},
}
# Libraries that mean HTTP serving: the engine and core take plain values and never serve.
SERVING = ("starlette", "uvicorn")
PROVIDER_NAME = re.compile(r"(?:^|_)(pixelcut|fal|pixazo|pixelapi)(?:_|$)", re.IGNORECASE)


def modules() -> list[Path]:
    return sorted(p for p in SERVER.rglob("*.py") if "openapi" not in p.parts)


def layer_of(path: Path) -> str:
    part = path.relative_to(SERVER).parts[0]
    return part.removesuffix(".py")


def imported(path: Path) -> list[tuple[int, str]]:
    """Every module `path` imports (absolute names; relative imports resolved), with its line."""
    package = ".".join(("mockserver", *path.relative_to(SERVER).with_suffix("").parts[:-1]))
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found += [(node.lineno, f"{base}.{alias.name}" if base == "mockserver" else base) for alias in node.names]
    return found


def forbidden(path: Path) -> list[str]:
    layer, problems = layer_of(path), []
    allowed = MAY_IMPORT[layer] | {layer, "settings"}
    for line, name in imported(path):
        where = f"{path.relative_to(ROOT)}:{line} imports {name}"
        parts = name.split(".")
        if parts[0] == "contracts":
            problems.append(f"{where}: the server never imports the kit")
        elif parts[0] == "mockserver" and len(parts) > 1 and parts[1] not in allowed:
            problems.append(f"{where}: {layer} may import only {', '.join(sorted(allowed))}")
        elif layer in ("core", "engine") and parts[0] in SERVING:
            problems.append(f"{where}: {layer} knows no HTTP serving")
    return problems


def test_every_module_keeps_to_its_layer() -> None:
    assert {layer_of(p) for p in modules()} <= set(MAY_IMPORT), "a module outside every layer"
    problems = [problem for path in modules() for problem in forbidden(path)]
    assert not problems, "\n".join(problems)


def test_the_engine_knows_no_provider() -> None:
    """No name in the engine's code (functions, classes, constants, arguments) names a provider."""
    named = []
    for path in sorted((SERVER / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            name = next((getattr(node, a) for a in ("name", "id", "arg", "attr") if hasattr(node, a)), None)
            if isinstance(name, str) and PROVIDER_NAME.search(name):
                named.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")  # type: ignore[attr-defined]
    assert not named, "\n".join(named)


def test_jobs_change_only_in_the_runtime() -> None:
    """A job is stored or changed only by runtime/jobs.py (and the stores themselves): providers and
    the control plane act through the runtime."""
    writes = ("put_job", "update_job", "poll_job")
    found = []
    for path in modules():
        if path.is_relative_to(SERVER / "core" / "backends") or path == SERVER / "runtime" / "jobs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in writes:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.attr}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "folder",
    sorted(p for p in (SERVER / "providers").iterdir() if p.is_dir() and p.name != "__pycache__"),
    ids=lambda p: p.name,
)
def test_each_provider_folder_has_the_same_files(folder: Path) -> None:
    assert {p.name for p in folder.glob("*.py")} == PROVIDER_FILES


def test_the_rules_see_a_forbidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: a control module importing a provider, an engine one importing starlette."""
    fake = tmp_path / "mockserver"
    (fake / "control").mkdir(parents=True)
    (fake / "engine").mkdir()
    (fake / "control" / "bad.py").write_text("from mockserver.providers import PROVIDERS\nimport contracts\n")
    (fake / "engine" / "bad.py").write_text("from starlette.responses import Response\nfrom ..runtime import mock\n")
    monkeypatch.setattr(f"{__name__}.SERVER", fake)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    control, engine = forbidden(fake / "control" / "bad.py"), forbidden(fake / "engine" / "bad.py")
    assert len(control) == 2 and "providers" in control[0] and "kit" in control[1]
    assert len(engine) == 2 and "HTTP serving" in engine[0] and "mockserver.runtime" in engine[1]
