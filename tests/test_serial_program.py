"""``lwfc program``: its error paths (no board is attached on the machines that run this)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import require_tool
from lwfc.cli import main
from lwfc.driver import program


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(["program", *args])
    return code, capsys.readouterr().err


def test_missing_default_bitstream(tmp_path: Path, capsys) -> None:
    code, err = run(capsys, "--board", "ulx3s", "--build-root", str(tmp_path))
    assert code == 2 and "lwfc build --board ulx3s" in err and err.count("\n") == 1, err


def test_bad_bitstream_and_board_names(tmp_path: Path, capsys) -> None:
    code, err = run(capsys, "--board", "ulx3s", str(tmp_path / "nope.bit"))
    assert code == 2 and "no such file" in err
    wrong = tmp_path / "x.bit"
    wrong.write_bytes(b"\0" * 16)
    code, err = run(capsys, "--board", "icebreaker", str(wrong))
    assert code == 2 and ".bin" in err
    code, err = run(capsys, "--board", "pynq_z2", str(wrong))
    assert code == 2 and "programmed another way" in err
    code, err = run(capsys, "--board", "nosuch", str(wrong))
    assert code == 2 and "unknown board" in err
    code, err = run(capsys, "--board", "ulx3s", str(wrong), "--timeout", "0")
    assert code == 2 and "--timeout" in err


def test_default_bitstream_is_where_build_puts_it(tmp_path: Path) -> None:
    from lwfc import fpga

    work = fpga.work_root(tmp_path, "ulx3s")
    work.mkdir(parents=True)
    (work / "lwfc_0.1.0.bit").write_bytes(b"\0")
    assert program.default_bitstream("ulx3s", tmp_path) == work / "lwfc_0.1.0.bit"


def test_tool_missing(tmp_path: Path, capsys, monkeypatch) -> None:
    bit = tmp_path / "x.bit"
    bit.write_bytes(b"\0" * 16)
    monkeypatch.setenv("PATH", str(tmp_path))
    code, err = run(capsys, "--board", "ulx3s", str(bit))
    assert code == 2 and "openFPGALoader not found" in err and err.count("\n") == 1, err


def test_tool_timeout(tmp_path: Path, capsys, monkeypatch) -> None:
    bit = tmp_path / "x.bit"
    bit.write_bytes(b"\0" * 16)
    monkeypatch.setitem(program.PROGRAMMERS, "ulx3s",
                        {"ext": ".bit", "cmd": ["sh", "-c", "sleep 10", "{bit}"]})
    code, err = run(capsys, "--board", "ulx3s", str(bit), "--timeout", "0.3")
    assert code == 2 and "did not finish within 0.3 s" in err


@pytest.mark.parametrize("board, tool, ext", [("ulx3s", "openFPGALoader", ".bit"),
                                              ("icebreaker", "openFPGALoader", ".bin"),
                                              ("orangecrab", "dfu-util", ".bit")])
def test_no_board_attached(tmp_path: Path, capsys, board: str, tool: str, ext: str) -> None:
    require_tool(tool)
    bit = tmp_path / f"lwfc{ext}"
    bit.write_bytes(b"\xff" * 64)
    before = bit.read_bytes()
    code, err = run(capsys, "--board", board, str(bit), "--timeout", "60")
    assert code == 2 and f"no {board} attached" in err and err.count("\n") == 1, err
    assert bit.read_bytes() == before  # the DFU suffix went onto a copy
