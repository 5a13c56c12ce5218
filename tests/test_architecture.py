"""Architecture rules, enforced: pure core, small modules, a curated and honest public API."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import botkit

PKG = Path(botkit.__file__).parent
# The pure ring: no I/O, no event loop, no ambient time or randomness.
PURE = sorted(PKG.glob("core/*.py")) + [
    p
    for p in (
        PKG / "sim" / n
        for n in (
            "market.py", "ledger.py", "orders.py", "exchange.py", "events.py", "engine.py",
            "amend.py", "entry.py", "specs.py", "wire.py", "candles.py", "api.py", "rest_util.py",
            "matcher.py",
        )  # fmt: skip
    )
    if p.exists()
]
_PAPER_PURE = (
    "book.py", "config.py", "exchange.py", "records.py", "state.py", "recovery.py",
    "journal_schema.py",
)  # fmt: skip
PURE += [p for p in (PKG / "paper" / n for n in _PAPER_PURE) if p.exists()]
FORBIDDEN_IMPORTS = {
    "asyncio",
    "socket",
    "time",
    "secrets",
    "os",
    "aiohttp",
    "websockets",
    "threading",
    "subprocess",
    "ssl",
    "sqlite3",
}
FORBIDDEN_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("uuid", "uuid4"),
    ("uuid", "uuid1"),
}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_pure_ring_has_no_io_time_or_ambient_randomness() -> None:
    assert PURE, "no core modules found"
    problems = []
    for path in PURE:
        tree = ast.parse(path.read_text())
        bad = _imports(tree) & FORBIDDEN_IMPORTS
        if bad:
            problems.append(f"{path.name} imports {sorted(bad)}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if (node.value.id, node.attr) in FORBIDDEN_CALLS:
                    problems.append(f"{path.name} uses {node.value.id}.{node.attr}")
                if node.value.id == "random" and node.attr != "Random":
                    problems.append(f"{path.name} uses the global random.{node.attr}")
    assert not problems, problems


def test_compiled_kernel_source_is_pure_too() -> None:
    """The Cython book kernel (not parsed above) imports only heapq and the C API."""
    src = (PKG / "core" / "_l2kernel.pyx").read_text()
    imported = {
        line.split()[1].split(".")[0]
        for line in src.splitlines()
        if line.startswith(("import ", "from ", "cimport "))
    }
    assert imported <= {"cpython", "heapq"}, imported
    for word in ("time(", "random.", "socket.", "open("):
        assert word not in src, word


def test_modules_are_small() -> None:
    sizes = {
        p.relative_to(PKG).as_posix(): len(p.read_text().splitlines()) for p in PKG.rglob("*.py")
    }
    too_big = {k: v for k, v in sizes.items() if v > 600}
    assert not too_big, f"split these modules (hard limit 600 lines, aim 400): {too_big}"


def test_every_module_declares_all() -> None:
    missing = []
    for path in PKG.rglob("*.py"):
        if path.name in ("__main__.py", "__init__.py") and path.parent != PKG:
            continue
        if "__all__" not in path.read_text() and path.name != "__main__.py":
            missing.append(path.relative_to(PKG).as_posix())
    assert not missing, missing


def test_public_api_is_sorted_and_importable() -> None:
    names = list(botkit.__all__)
    assert names == sorted(names)
    for name in names:
        assert hasattr(botkit, name), name
    for path in PKG.rglob("*.py"):
        if path.name == "__main__.py":
            continue
        mod = ".".join(("botkit", *path.relative_to(PKG).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        module = importlib.import_module(mod)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{mod}.__all__ lists missing {name}"


def test_every_error_says_what_the_bot_does() -> None:
    from botkit import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert cls.__doc__ and len(cls.__doc__.strip()) > 20, name
