"""The layering of the package (STYLE.md items 1, 2 and 9), checked on the source.

Each module is parsed with :mod:`ast`, without importing it, and every import
statement counts, including those inside functions and ``TYPE_CHECKING``
blocks:

- the sans-I/O core imports no I/O, thread, clock or event loop module, and
  nothing of the package outside ``sansio``, ``exceptions``, ``defaults`` and
  ``version``;
- the sync modules don't import the asyncio facade;
- every module declares ``__all__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "websockets_sync"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE

#: Modules that would give the sans-I/O core I/O, threads, a clock or an event loop.
FORBIDDEN_IN_SANSIO = {"socket", "ssl", "threading", "selectors", "queue", "asyncio", "time"}
#: The only parts of the package the sans-I/O core may use.
ALLOWED_FOR_SANSIO = (
    f"{PACKAGE}.sansio",
    f"{PACKAGE}.exceptions",
    f"{PACKAGE}.defaults",
    f"{PACKAGE}.version",
)


def module_name(path: Path) -> str:
    """The dotted name of a module file of the package."""
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, name: str, is_package: bool = False) -> set[str]:
    """The absolute names of the modules that ``source`` (module ``name``) imports.

    ``from X import y`` counts as importing both ``X`` and ``X.y``, since ``y``
    may be a submodule; ``from . import y`` counts as importing ``y`` only,
    since the package it comes from is this module's own. Relative imports are
    resolved against ``name``.
    """
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: -(node.level - 1)]
                base = ".".join(base_parts)
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if node.module:
                found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def sansio_violations(imports: set[str]) -> list[str]:
    """The imports that a sans-I/O module may not make."""

    def allowed(module: str) -> bool:
        top = module.partition(".")[0]
        if top in FORBIDDEN_IN_SANSIO:
            return False
        if top != PACKAGE:
            return True
        return any(module == name or module.startswith(name + ".") for name in ALLOWED_FOR_SANSIO)

    return [module for module in sorted(imports) if not allowed(module)]


def package_modules(under: Path = PACKAGE_DIR) -> list[Path]:
    return sorted(under.rglob("*.py"))


def module_imports(path: Path) -> set[str]:
    return imported_modules(
        path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
    )


SANSIO_MODULES = package_modules(PACKAGE_DIR / "sansio")
ASYNCIO_DIR = PACKAGE_DIR / "asyncio"
# The sync layer and the package root: the modules directly in the package.
SYNC_MODULES = [path for path in package_modules() if path.parent == PACKAGE_DIR]


def relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE_DIR.parent))


# The checker itself: each check must be able to fail.


def test_imported_modules_resolves_relative_imports() -> None:
    source = (
        "import os, socket as s\n"
        "from . import frames\n"
        "from ..exceptions import InvalidURI\n"
        "from .. import protocol\n"
        "def later():\n"
        "    import threading\n"
    )
    assert imported_modules(source, "websockets_sync.sansio.extensions.base") == {
        "os",
        "socket",
        "websockets_sync.sansio.extensions.frames",
        "websockets_sync.sansio.exceptions",
        "websockets_sync.sansio.exceptions.InvalidURI",
        "websockets_sync.sansio.protocol",
        "threading",
    }
    assert imported_modules("from .sansio import frames", PACKAGE, is_package=True) == {
        "websockets_sync.sansio",
        "websockets_sync.sansio.frames",
    }


def test_sansio_violations_detects_upward_dependencies() -> None:
    imports = imported_modules(
        "import time\nfrom ...protocol import X\nfrom ... import exceptions, server\n"
        "from ...client import connect\nimport zlib\nimport websockets_sync\n"
        "from ..frames import Frame\n",
        "websockets_sync.sansio.extensions.permessage_deflate",
    )
    assert sansio_violations(imports) == [
        "time",
        "websockets_sync",
        "websockets_sync.client",
        "websockets_sync.client.connect",
        "websockets_sync.protocol",
        "websockets_sync.protocol.X",
        "websockets_sync.server",
    ]


def test_the_walk_finds_the_modules() -> None:
    assert len(SANSIO_MODULES) >= 5
    assert PACKAGE_DIR / "protocol.py" in SYNC_MODULES
    assert PACKAGE_DIR / "__init__.py" in SYNC_MODULES
    assert not any(path.is_relative_to(PACKAGE_DIR / "sansio") for path in SYNC_MODULES)


# The package.


@pytest.mark.parametrize("path", SANSIO_MODULES, ids=relative)
def test_sansio_has_no_io_and_no_upward_dependency(path: Path) -> None:
    """STYLE.md 1: sans-I/O core without a clock; 2: dependencies point one way."""
    assert sansio_violations(module_imports(path)) == []


@pytest.mark.parametrize("path", SYNC_MODULES, ids=relative)
def test_sync_modules_do_not_import_the_asyncio_facade(path: Path) -> None:
    """STYLE.md 2: asyncio/ → sync modules → sansio/; the package loads .asyncio lazily."""
    facade = f"{PACKAGE}.asyncio"
    imports = module_imports(path)
    assert [m for m in imports if m == facade or m.startswith(facade + ".")] == []


def test_asyncio_facade_is_not_imported_by_the_package() -> None:
    """Importing websockets_sync doesn't load the facade (nor asyncio for it)."""
    import subprocess
    import sys

    code = (
        "import sys, websockets_sync\n"
        "assert 'websockets_sync.asyncio' not in sys.modules, 'facade loaded eagerly'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PACKAGE_DIR.parent,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def declares_all(source: str) -> bool:
    """Whether a module assigns ``__all__`` at top level."""
    for node in ast.parse(source).body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def test_declares_all() -> None:
    assert declares_all('__all__ = ["x"]\n')
    assert declares_all("__all__: list[str] = []\n")
    assert not declares_all("def f():\n    __all__ = []\n")
    assert not declares_all('"""Docstring only."""\n')


@pytest.mark.parametrize("path", package_modules(), ids=relative)
def test_every_module_has_all(path: Path) -> None:
    """STYLE.md 9: every module has ``__all__``."""
    assert declares_all(path.read_text(encoding="utf-8")), f"{relative(path)} has no __all__"
