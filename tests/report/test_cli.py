"""``botkit report``: writes the page (and PNG), exit 2 with one clear line on bad input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from botkit.report.cli import add_report_parser
from tests.report.sessions import write_session


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="botkit")
    add_report_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", *argv])
    code: int = args.func(args)
    return code


def test_writes_the_html_beside_the_journal_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = write_session(tmp_path / "paper.sqlite")
    assert _run(str(journal)) == 0
    page = tmp_path / "paper.html"
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert f"report: {page} (5 orders, 4 fills)" in capsys.readouterr().out


def test_out_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = write_session(tmp_path / "paper.sqlite")
    out = tmp_path / "sub" / "r.html"
    png = tmp_path / "r.png"
    from botkit.report import find_rasterizer

    if find_rasterizer() is None:
        assert _run(str(journal), "--out", str(out), "--png", str(png)) == 2
        assert "needs an SVG rasterizer" in capsys.readouterr().err
        return
    assert _run(str(journal), "--out", str(out), "--png", str(png)) == 0
    assert out.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    assert "png:" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["missing", "text", "same-as-out"])
def test_bad_input_exits_2_with_one_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if kind == "missing":
        argv, expect = [str(tmp_path / "nope.sqlite")], "no such journal file"
    elif kind == "text":
        bad = tmp_path / "notes.sqlite"
        bad.write_text("not a database, just text " * 50)
        argv, expect = [str(bad)], "is not a botkit paper journal"
    else:
        journal = write_session(tmp_path / "paper.html")  # a journal with an unlucky name
        argv, expect = [str(journal)], "is the journal itself"
    assert _run(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("botkit: error: ") and expect in err and err.count("\n") == 1


def test_png_without_rasterizer_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = write_session(tmp_path / "paper.sqlite")
    monkeypatch.setitem(sys.modules, "cairosvg", None)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert _run(str(journal), "--png", str(tmp_path / "x.png")) == 2
    captured = capsys.readouterr()
    assert "pip install 'botkit[report]'" in captured.err
    assert (tmp_path / "paper.html").is_file()  # the HTML was still written
