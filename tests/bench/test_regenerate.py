"""bench/regenerate.py's table rewriting, as pure functions: parse the generated table of
docs/benchmarks.md, merge this run's rows, render it back (no benchmark runs, nothing timed)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]


def _load() -> Any:
    """bench/ is scripts, not a package: load regenerate.py by path (it finds _summary.py)."""
    spec = importlib.util.spec_from_file_location(
        "bench_regenerate", ROOT / "bench" / "regenerate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


rg = _load()
Row = sys.modules["_summary"].Row

RUNS = [("2026-12-01", "an earlier run on some machine.")]
THIS_RUN = ("2026-12-06 07:40 UTC", "this run, on this machine.")


def trow(key: str, script: str, measured: str = "old figure", date: str = "2026-12-01") -> Any:
    return rg.TableRow(
        key=key,
        target=f"target of {key} (issue)",
        measured=measured,
        met="yes",
        command=f".venv/bin/python bench/{script}.py --n 1",
        competitor="-",
        date=date,
    )


def doc_with(
    rows: list[Any],
    before: str = "# Benchmarks\n\nintro\n\n",
    after: str = "\n\n## Details\n\nkept | as | is\n",
) -> str:
    return f"{before}{rg.BEGIN}\n{rg.render_table(rows, RUNS)}\n{rg.END}{after}"


OLD = [
    trow("a.one", "bench_a"),
    trow("b.one", "bench_b"),
    trow("a.two", "bench_a"),
    trow("c.one", "bench_c"),
]


def test_rendered_table_parses_back_to_the_same_rows() -> None:
    rows = [
        *OLD,
        rg.TableRow(
            "x.pipes",
            "a | b ≤ 1.3× (issue)",
            "p50 | p99 `code`",
            "**no**: why",
            "-",
            "ccxt 4.5 a|b",
            "2026-12-06 or earlier",
        ),
    ]
    assert rg.parse_table(doc_with(rows)) == rows


def test_new_rows_replace_theirs_in_place_and_others_keep_text_and_date() -> None:
    new = [
        rg.table_row(
            Row(
                "a.one",
                "target of a.one (issue)",
                "3.64× (p50 42 µs vs 153 µs)",
                True,
                ".venv/bin/python bench/bench_a.py --n 9",
                "official SDK 1.8.4",
            ),
            THIS_RUN[0],
        ),
        rg.table_row(
            Row(
                "c.one",
                "target of c.one (issue)",
                "1.2 MB/h",
                False,
                ".venv/bin/python bench/bench_c.py",
                "-",
                "imports",
            ),
            THIS_RUN[0],
        ),
    ]
    before, after = (
        "# Title\n\nprose mentioning <!-- summary:begin --> in passing\n\n",
        "\n\n## Rest\n\n| other | table |\n|---|---|\n| x | y |\n",
    )
    doc = doc_with(OLD, before, after)
    text, warnings = rg.rewrite(doc, new, {"bench_a", "bench_c"}, THIS_RUN)
    rows = rg.parse_table(text)
    assert [r.key for r in rows] == ["a.one", "b.one", "a.two", "c.one"]
    assert rows[0].measured == "3.64× (p50 42 µs vs 153 µs)" and rows[0].date == THIS_RUN[0]
    assert rows[0].competitor == "official SDK 1.8.4" and rows[0].met == "yes"
    assert rows[3].met == "**no**: imports"
    assert rows[1] == OLD[1]  # bench_b did not run: its row as it was, with its date
    assert rows[2] == OLD[2]  # bench_a ran but did not report a.two: kept, and said so
    assert len(warnings) == 1 and "a.two" in warnings[0] and "--drop a.two" in warnings[0]
    assert text.startswith(before + rg.BEGIN + "\n")
    assert rg.parse_runs(text) == [THIS_RUN, *RUNS]  # both runs still date rows
    assert text.endswith(rg.END + after)  # outside the markers, byte for byte


def test_a_run_line_goes_when_no_row_is_dated_with_it_any_more() -> None:
    new = [
        rg.TableRow(r.key, r.target, "new", r.met, r.command, r.competitor, THIS_RUN[0])
        for r in OLD
    ]
    text, _ = rg.rewrite(doc_with(OLD), new, {"bench_a", "bench_b", "bench_c"}, THIS_RUN)
    assert rg.parse_runs(text) == [THIS_RUN]
    assert "an earlier run" not in text
    text, _ = rg.rewrite(doc_with(OLD), [], set(), THIS_RUN)  # nothing ran: no line for it
    assert rg.parse_runs(text) == RUNS


def test_a_new_key_goes_after_its_scripts_last_row_or_at_the_end() -> None:
    new = [
        rg.table_row(
            Row(
                "a.three",
                "t",
                "m",
                None,
                ".venv/bin/python bench/bench_a.py",
                "-",
                "ratio reported",
            ),
            "2026-12-06",
        ),
        rg.table_row(
            Row("z.new", "t", "m", True, ".venv/bin/python bench/bench_z.py", "-"), "2026-12-06"
        ),
    ]
    rows, _ = rg.merge(OLD, new, {"bench_a", "bench_z"})
    assert [r.key for r in rows] == ["a.one", "b.one", "a.two", "a.three", "c.one", "z.new"]
    assert rows[3].met == "no target; ratio reported"


def test_drop_removes_a_row_and_an_unknown_drop_is_reported() -> None:
    rows, warnings = rg.merge(OLD, [], {"bench_a"}, drop=["a.two", "nope"])
    assert [r.key for r in rows] == ["a.one", "b.one", "c.one"]
    assert any("nope" in w for w in warnings)
    assert any("a.one" in w for w in warnings)  # bench_a ran and reported nothing


def test_met_cell_wording() -> None:
    def met(value: bool | None, note: str = "") -> str:
        return str(rg.table_row(Row("k", "t", "m", value, "c", "", note), "d").met)

    assert (met(True), met(False), met(None)) == ("yes", "**no**", "no target")
    assert met(True, "on the medians") == "yes (on the medians)"
    assert met(False, "imports ~0.55 s") == "**no**: imports ~0.55 s"
    assert met(None, "ratio reported") == "no target; ratio reported"
    assert rg.table_row(Row("k", "t", "m", None, "c", ""), "d").competitor == "-"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            "# Benchmarks\n\n| t | m |\n|---|---|\n",
            "no line <!-- summary:begin --> and <!-- summary:end -->",
        ),
        ("x\n<!-- summary:begin -->\n| t |\n", "no line <!-- summary:end -->"),
        ("see `<!-- summary:begin -->` and `<!-- summary:end -->` in prose\n", "no line"),
        ("<!-- summary:end -->\n<!-- summary:begin -->\n", "wrong order"),
        ("<!-- summary:begin -->\n<!-- summary:begin -->\n<!-- summary:end -->\n", "exactly one"),
    ],
)
def test_missing_or_broken_markers_are_a_clear_error(doc: str, message: str) -> None:
    with pytest.raises(rg.MarkersMissing, match=message.replace("(", r"\(")):
        rg.rewrite(doc, [], set(), THIS_RUN)


def test_a_row_without_a_key_or_a_duplicate_key_is_refused() -> None:
    no_key = doc_with(OLD).replace(" <!-- key=b.one -->", "")
    with pytest.raises(rg.MarkersMissing, match="no key"):
        rg.parse_table(no_key)
    twice = doc_with([*OLD, OLD[0]])
    with pytest.raises(rg.MarkersMissing, match="duplicate summary keys"):
        rg.parse_table(twice)
    with pytest.raises(ValueError, match="reported twice"):
        rg.merge(OLD, [OLD[0], OLD[0]], {"bench_a"})


def test_row_script_is_read_from_the_command() -> None:
    assert OLD[0].script == "bench_a"
    assert rg.TableRow("k", "t", "m", "yes", "-", "-", "d").script is None


def test_the_committed_document_parses_and_every_row_names_a_command_and_competitor() -> None:
    rows = rg.parse_table((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8"))
    assert rows, "the summary table of docs/benchmarks.md is empty"
    for r in rows:
        assert r.script is not None and (ROOT / "bench" / f"{r.script}.py").exists(), r.key
        assert r.competitor and r.date, r.key


def test_rows_written_by_summary_emit_read_back(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    emit = sys.modules["_summary"].emit
    emit([Row("a.one", "t", "m", True, "c", "x")], path)
    emit([Row("a.two", "t", "m", None, "c", "x", "n")], path)
    rows = [Row(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r.key for r in rows] == ["a.one", "a.two"] and rows[1].note == "n"


_cells = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@given(target=_cells, measured=_cells, met=_cells, competitor=_cells, date=_cells)
def test_any_cell_text_survives_render_and_parse(
    target: str, measured: str, met: str, competitor: str, date: str
) -> None:
    row = rg.TableRow(
        "k.x", target, measured, met, ".venv/bin/python bench/bench_a.py", competitor, date
    )
    (back,) = rg.parse_table(doc_with([row]))

    def norm(text: str) -> str:
        return " ".join(text.split())

    assert (back.target, back.measured, back.met, back.competitor, back.date) == tuple(
        norm(x) for x in (target, measured, met, competitor, date)
    )
