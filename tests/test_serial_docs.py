"""docs/serial.md is generated from hw/lwfc_hw/link.py (a stale doc fails here)."""

from __future__ import annotations

from pathlib import Path

from lwfc_hw import link

DOC = Path(__file__).resolve().parents[1] / "docs" / "serial.md"


def test_docs_serial_md_is_generated_from_link_py() -> None:
    boards = link.open_flow_boards()
    assert {b.name for b in boards} == {"icebreaker", "orangecrab", "ulx3s"}
    assert DOC.read_text() == link.markdown(boards), (
        "docs/serial.md is stale: run `python -m lwfc_hw.link --markdown docs/serial.md`")
    text = DOC.read_text()
    for c in (*link.COMMANDS, *link.ERRORS):
        assert f"| {c.name} |" in text
    for name, _, _ in link.IDENTIFY_FIELDS:
        assert f"| {name} |" in text


def test_link_main_writes_the_doc(tmp_path: Path, capsys) -> None:
    out = tmp_path / "serial.md"
    assert link.main(["--markdown", str(out)]) == 0
    assert out.read_text() == DOC.read_text()
    assert link.main([]) == 0
    assert capsys.readouterr().out == DOC.read_text()
