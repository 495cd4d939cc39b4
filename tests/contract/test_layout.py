"""Import rules between planes, the curated public surface, and documentation that matches the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import steward
from steward.settings import Settings

SRC = Path(steward.__file__).parent
ROOT = SRC.parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _package_imports(package: str) -> dict[Path, set[str]]:
    return {p: _imports(p) for p in (SRC / package).rglob("*.py")}


def test_storage_imports_no_other_plane() -> None:
    # Storage may implement the pure domain's interfaces (governance: e.g. the Limiter protocol) and raise the one
    # error tree (a lost unique-constraint race is a ConflictError), nothing else.
    allowed = ("steward.storage", "steward.governance.buckets", "steward.governance.budgets", "steward.metrics",
               "steward.errors")
    for path, imports in _package_imports("storage").items():
        bad = {i for i in imports if i.startswith("steward.") and not i.startswith(allowed)}
        assert not bad, f"{path} imports {bad}"


def test_only_storage_imports_sqlalchemy() -> None:
    for path in SRC.rglob("*.py"):
        if "storage" in path.relative_to(SRC).parts:
            continue
        bad = {i for i in _imports(path) if i.split(".")[0] in ("sqlalchemy", "alembic", "asyncpg", "aiosqlite")}
        assert not bad, f"{path} imports {bad}"


def test_dataplane_never_imports_controlplane() -> None:
    for path, imports in _package_imports("dataplane").items():
        assert not any(i.startswith("steward.controlplane") for i in imports), path


def test_nothing_imports_app_but_cli() -> None:
    for path in SRC.rglob("*.py"):
        if "cli" in path.relative_to(SRC).parts or path.name == "app.py":
            continue
        assert "steward.app" not in _imports(path), path


def test_public_surface_is_curated() -> None:
    assert steward.__all__ == sorted(steward.__all__)
    for name in steward.__all__:
        assert hasattr(steward, name)


def test_modules_open_with_a_docstring() -> None:
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path} has no module docstring"


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`STEWARD_{name.upper()}`" in doc, name
    documented = set(re.findall(r"`STEWARD_([A-Z_]+)`", doc))
    assert documented <= {n.upper() for n in Settings.model_fields}, "docs name a setting that does not exist"


def test_every_route_is_documented() -> None:
    doc = (ROOT / "docs" / "api.md").read_text()
    router = (SRC / "dataplane" / "router.py").read_text() + (SRC / "dataplane" / "batch_routes.py").read_text()
    static = re.findall(r'\("(GET|POST|DELETE)", "(/v1/[a-z_/]+)"\)', router)
    assert static
    for method, path in static:
        assert f"`{method} {path}`" in doc, (method, path)
    for route in ("GET /v1/models/{model_id}", "GET /v1/messages/batches/{id}",
                  "POST /v1/messages/batches/{id}/cancel", "DELETE /v1/messages/batches/{id}",
                  "GET /v1/messages/batches/{id}/results"):
        assert f"`{route}`" in doc, route


def test_every_admin_route_is_documented() -> None:
    from fastapi.routing import APIRoute

    from steward.controlplane.api.app import ROUTERS

    doc = (ROOT / "docs" / "admin-api.md").read_text()
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods:
                path = re.sub(r"\{[^}]+\}", "{}", route.path)
                documented = {re.sub(r"\{[^}]+\}", "{}", p) for p in re.findall(rf"`{method} (/v1/[^`]+)`", doc)}
                assert path in documented, (method, route.path)


def test_sdk_uses_only_the_pure_domain() -> None:
    for path, imports in _package_imports("sdk").items():
        bad = {i for i in imports if i.startswith("steward.")
               and not i.startswith(("steward.sdk", "steward.governance"))}
        assert not bad, f"{path} imports {bad}"
