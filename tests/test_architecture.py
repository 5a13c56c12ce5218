"""Architecture rules, enforced: pure core, small modules, a curated and honest public API."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import botkit

PKG = Path(botkit.__file__).parent

# The pure ring, per domain: no I/O, no event loop, no ambient time or randomness. A module
# listed here may be imported by anything; it imports only other pure code and the stdlib's
# pure parts. Add a new pure module to its domain's list.
PURE_BY_DOMAIN: dict[str, tuple[str, ...]] = {
    "": ("clock.py",),  # botkit/clock.py: the clock contract and the manual clock
    "auth": ("keys.py", "jwt.py", "hmac_sign.py", "signing.py"),
    "market": (
        "book.py",
        "book_levels.py",
        "book_view.py",
        "candle_builder.py",
        "events.py",
        "requests.py",
        "session.py",
        "matching.py",
        "trading_status.py",
        "types.py",
    ),  # fmt: skip
    "net": ("token_bucket.py", "rest_types.py", "retry_policy.py"),
    "venues/advanced_trade": (
        "messages.py",
        "messages_l2.py",
        "models.py",
        "errors_map.py",
        "ws_protocol.py",
    ),  # fmt: skip
    "venues/prime": (
        "errors_map.py",
        "models.py",
        "settings.py",
        "ws_messages.py",
        "ws_protocol.py",
    ),
    "venues/exchange": (
        "errors_map.py",
        "models.py",
        "settings.py",
        "ws_messages.py",
        "ws_protocol.py",
    ),  # fmt: skip
    "orders": (
        "intents.py", "state.py", "fills.py", "positions.py", "model.py", "venue_api.py",
        "coid_filter.py",
    ),  # fmt: skip
    "risk": ("engine.py",),
    "strategy": ("timers.py", "warmup.py", "exits.py"),
    "history": ("ranges.py",),
    "backtest": ("candle_model.py",),
    "report": ("analytics.py",),
    "research": ("space.py",),
    "monitor": ("alert_rules.py",),
    "runtime": ("restart.py", "health.py", "event_buffer.py"),
    "sim": (
        "market.py",
        "ledger.py",
        "orders.py",
        "exchange.py",
        "events.py",
        "engine.py",
        "amend.py",
        "entry.py",
        "specs.py",
        "wire.py",
        "candles.py",
        "api.py",
        "rest_util.py",
        "matcher.py",
        "ratelimit.py",
        "prime_auth.py",
        "prime_dialect.py",
        "exchange_auth.py",
        "exchange_dialect.py",
        "exchange_shapes.py",
        "exchange_ws_frames.py",
        "prime_ws_frames.py",
        "client_ids.py",
    ),  # fmt: skip
    "paper": (
        "book.py",
        "config.py",
        "exchange.py",
        "records.py",
        "state.py",
        "journal_schema.py",
    ),  # fmt: skip
}
PURE = [PKG / domain / name for domain, names in PURE_BY_DOMAIN.items() for name in names]

# Old import paths kept for one release (each warns); nothing inside botkit may import them.
SHIMS = {
    "botkit.executor", "botkit.feed", "botkit.config", "botkit.bot_config",
    "botkit.net.rest_client",
}  # fmt: skip

# Who may import a venue folder (botkit.venues.*): the wiring, which picks the venue. Everything
# else depends on the venue protocols (botkit.market.session, botkit.orders.venue_api) and the
# neutral model (botkit.market.types, botkit.orders.model). The paper mode's setup and the
# backtest are wiring too: the paper broker serves the Advanced Trade wire in-process, and a
# backtest replays a recording of that venue's frames through its protocol.
VENUE_WIRING_PREFIXES = (
    "botkit.runtime.venue", "botkit.runtime.bot", "botkit.sim.", "botkit.cli.",
    "botkit.paper.setup", "botkit.backtest.runner",
)  # fmt: skip
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
    missing = [p.relative_to(PKG).as_posix() for p in PURE if not p.exists()]
    assert not missing, f"listed as pure but gone: {missing}"
    assert not pure_problems(PURE), pure_problems(PURE)


def pure_problems(paths: list[Path]) -> list[str]:
    """What makes these modules impure: a forbidden import or an ambient time/random call."""
    problems = []
    for path in paths:
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
    return problems


def test_compiled_kernel_source_is_pure_too() -> None:
    """The Cython book kernel (not parsed above) imports only heapq, the C API, Cython's
    directives and libc's fixed-width ints and memcmp/memcpy (its l2_data decoder)."""
    src = (PKG / "market" / "_l2kernel.pyx").read_text()
    imported = {
        line.split()[1].split(".")[0]
        for line in src.splitlines()
        if line.startswith(("import ", "from ", "cimport "))
    }
    assert imported <= {"cpython", "heapq", "cython", "libc"}, imported
    libc = {line.split()[1] for line in src.splitlines() if line.startswith("from libc")}
    assert libc <= {"libc.stdint", "libc.string"}, libc  # no stdio, stdlib, time
    for word in ("time(", "random.", "socket.", "open("):
        assert word not in src, word


def test_modules_stay_a_readable_size() -> None:
    """A sanity bound, not a design rule: size is a smell to look at (is this one
    responsibility?), never a reason to split a module that reads better whole."""
    sizes = {
        p.relative_to(PKG).as_posix(): len(p.read_text().splitlines()) for p in PKG.rglob("*.py")
    }
    too_big = {k: v for k, v in sizes.items() if v > 900}
    assert not too_big, f"look at these modules (over 900 lines): {too_big}"


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
        if mod in SHIMS:
            continue
        module = importlib.import_module(mod)
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"{mod}.__all__ lists missing {name}"


def test_every_error_says_what_the_bot_does() -> None:
    from botkit import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert cls.__doc__ and len(cls.__doc__.strip()) > 20, name


# ---- the module import graph -----------------------------------------------------------------


def module_name(root: Path, path: Path) -> str:
    """``root/a/b.py`` → ``<root.name>.a.b`` (a package's ``__init__`` is the package)."""
    parts = (root.name, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported (not in functions, not TYPE_CHECKING)."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            stack += node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack += node.body + node.orelse + node.finalbody
            for handler in node.handlers:
                stack += handler.body
    return found


def import_graph(root: Path, *, all_imports: bool = False) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports (at import time, unless
    ``all_imports``: then every import, lazy and type-only ones too)."""
    modules = {module_name(root, p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        nodes = [
            n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
        ] if all_imports else _top_level_imports(tree)  # fmt: skip
        edges: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            else:
                continue
            for target in targets:
                if target in modules:
                    edges.add(target)
                elif target.rsplit(".", 1)[0] in modules and target.count("."):
                    edges.add(target.rsplit(".", 1)[0])
        # "from pkg import mod" names pkg too; keep the module edge, drop the package one
        graph[name] = {e for e in edges if e != name} - {
            e for e in edges if any(o.startswith(e + ".") for o in edges)
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def venue_violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{mod} imports {target}"
        for mod, targets in graph.items()
        for target in targets
        if ".venues." in f".{target}."
        and ".venues." not in f".{mod}."
        and not mod.startswith(VENUE_WIRING_PREFIXES)
        and mod not in SHIMS
    )


# Cycles through type-only or lazy imports that are accepted: the monitor reads the runtime it
# watches (TYPE_CHECKING), and the runtime builds the monitor's view on demand.
ACCEPTED_LAZY_CYCLES = [
    ["botkit.monitor.bot_view", "botkit.monitor.reporter", "botkit.runtime.bot"]
]


def test_no_import_cycles() -> None:
    """None at import time; with lazy and type-only imports too, only the accepted ones."""
    assert not cycles(import_graph(PKG)), cycles(import_graph(PKG))
    lazy = cycles(import_graph(PKG, all_imports=True))
    assert lazy == ACCEPTED_LAZY_CYCLES, lazy


def test_only_the_wiring_imports_a_venue_folder() -> None:
    graph = import_graph(PKG, all_imports=True)
    assert not venue_violations(graph), venue_violations(graph)


def test_nothing_inside_botkit_imports_a_deprecated_path() -> None:
    graph = import_graph(PKG, all_imports=True)
    bad = sorted(
        f"{m} imports {t}" for m, ts in graph.items() for t in ts & SHIMS if m not in SHIMS
    )
    assert not bad, bad


def test_the_checkers_catch_a_bad_scratch_module(tmp_path: Path) -> None:
    """Each checker above fails on a deliberately bad package, so a pass means something."""
    root = tmp_path / "botkit"
    (root / "venues" / "acme").mkdir(parents=True)
    (root / "orders").mkdir()
    for d in (root, root / "venues", root / "venues" / "acme", root / "orders"):
        (d / "__init__.py").write_text("")
    (root / "venues" / "acme" / "wire.py").write_text("X = 1\n")
    (root / "orders" / "pure.py").write_text(
        "import asyncio\nfrom datetime import datetime\nfrom botkit.venues.acme import wire\n"
        "from botkit.orders import other\nT = datetime.now()\n"
    )
    (root / "orders" / "other.py").write_text("import botkit.orders.pure\n")
    problems = pure_problems([root / "orders" / "pure.py"])
    assert any("asyncio" in p for p in problems) and any("datetime.now" in p for p in problems)
    graph = import_graph(root)
    assert cycles(graph) == [["botkit.orders.other", "botkit.orders.pure"]]
    assert venue_violations(graph) == ["botkit.orders.pure imports botkit.venues.acme.wire"]


# ---- one public API -------------------------------------------------------------------------

ROOT = PKG.parent


def test_strategies_and_examples_import_only_the_public_api() -> None:
    """What a user copies (shipped strategies, examples, the new-strategy skeleton) names only
    ``botkit``, so the internals can move without breaking them."""
    from botkit.cli.run import SKELETON

    sources = {p.relative_to(ROOT).as_posix(): p.read_text() for p in ROOT.glob("strategies/*.py")}
    sources |= {p.relative_to(ROOT).as_posix(): p.read_text() for p in ROOT.glob("examples/*.py")}
    sources["new-strategy skeleton"] = SKELETON.replace("{", "").replace("}", "")
    bad = []
    for name, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("botkit."):
                bad.append(f"{name}: from {node.module}")
            elif isinstance(node, ast.Import):
                bad += [f"{name}: import {a.name}" for a in node.names if "botkit." in a.name]
    assert not bad, bad


def test_the_public_api_gives_an_author_and_an_embedder_what_they_need() -> None:
    needed = {
        "Strategy", "Context", "Ticker", "Candle", "BookChanged", "FillEvent", "OrderUpdate",
        "TimerFired", "limit_gtc", "limit_ioc", "market_ioc", "OrderIntent", "OrderRejected",
        "BotRuntime", "RunOptions", "RunResult", "SimServer", "Backtest", "load_settings",
        "load_bot_config", "JwtSigner",
    }  # fmt: skip
    assert needed <= set(botkit.__all__), needed - set(botkit.__all__)


def test_old_import_paths_still_work_and_warn() -> None:
    import sys

    for old in sorted(SHIMS):
        sys.modules.pop(old, None)  # imported afresh: the warning is the module's own import
        with pytest.warns(DeprecationWarning, match=re.escape(f"{old} moved")):
            module = importlib.import_module(old)
        assert module.__all__, old
    with pytest.warns(DeprecationWarning, match="import it from botkit"):
        from botkit.runtime import BotRuntime  # noqa: F401
