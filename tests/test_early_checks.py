"""Every command checks its output paths and the arguments it can check before any work and
before heavy imports: exit status 2, one line naming the argument, nothing written.

The bad command lines run in one child process (``lwfc.cli.main`` called per case, stderr
captured per case), which also reports whether torch, MyHDL or Ray were imported by then; the
folder the cases write into must be unchanged afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import random_bundle
from lwfc.bundle import save_bundle
from lwfc.commands._common import check_output
from lwfc.errors import LwfcError

RUNNER = r"""
import contextlib, io, json, sys
from lwfc.cli import main

HEAVY = ("torch", "myhdl", "ray", "lwfc_hw.convert")
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    out.append({"code": code, "err": err.getvalue(),
                "heavy": [m for m in HEAVY if m in sys.modules]})
print(json.dumps(out))
"""

#: (command line, text the one-line error must contain)
CASES = [
    (["train", "--out", "{file}"], "--out {file}: exists and is a file"),
    (["train", "--out", "{file}/model"], "is a file, not a folder"),
    (["train", "--out", "{full}"], "refusing to overwrite"),
    (["train", "--out", "{new}", "--checkpoint", "{tmp}"], "--checkpoint {tmp}: is a folder"),
    (["train", "--out", "{new}", "--data", "{file}"], "--data {file}: is a file"),
    (["export", "{file}", "--out", "{file}"], "--out {file}: exists and is a file"),
    (["export", "{file}", "--out", "{full}"], "holds no manifest.json"),
    (["compress", "{tmp}/none.pt", "--out", "{new}"], "input {tmp}/none.pt: no such file"),
    (["compress", "{bundle}", "--out", "{file}"], "--out {file}: exists and is a file"),
    (["compress", "{bundle}", "--out", "{new}", "--teacher", "{tmp}/t.pt"], "--teacher"),
    (["compress", "{bundle}", "--out", "{new}", "--save-state", "{tmp}"], "--save-state"),
    (["search", "--out", "{file}"], "--out {file}: exists and is a file"),
    (["search", "--out", "{full}", "--grid", "smoke"], "refusing to overwrite"),
    (["search", "--out", "{new}", "--from", "{tmp}/none.pt"], "--from {tmp}/none.pt"),
    (["report", "{tmp}/none"], "folder {tmp}/none: no such file or folder"),
    (["report", "{full}", "--out", "{file}"], "--out {file}: exists and is a file"),
    (["hdl", "{bundle}", "--out", "{file}/rtl"], "is a file, not a folder"),
    (["hdl", "{bundle}", "--out", "{full}"], "holds no lwfc_core.v"),
    (["sim", "{bundle}", "--vcd", "{tmp}"], "--vcd {tmp}: is a folder"),
    (["sim", "{bundle}", "--keep", "{file}"], "--keep {file}: exists and is a file"),
    (["sim", "{bundle}", "--offset", "-1"], "--offset -1"),
    (["build", "--board", "orangecrab", "--build-root", "{file}"], "--build-root {file}"),
    (["build", "--board", "orangecrab", "--timeout", "0"], "--timeout 0"),
]


def test_bad_outputs_fail_at_once_with_one_line(tmp_path: Path) -> None:
    bundle = save_bundle(random_bundle(0), tmp_path / "bundle")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("keep me")
    names = {"tmp": str(tmp_path), "file": str(tmp_path / "afile"),
             "full": str(tmp_path / "full"), "new": str(tmp_path / "new"),
             "bundle": str(bundle)}
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    argvs = [[a.format(**names) for a in argv] for argv, _ in CASES]
    env = dict(os.environ)
    env.pop("LWFC_BUNDLE", None)
    res = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(argvs)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, check=False, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads(res.stdout)
    for (argv, needle), got in zip(CASES, results, strict=True):
        case = " ".join(argv)
        lines = got["err"].strip().splitlines()
        assert got["code"] == 2, (case, got)
        assert len(lines) == 1 and needle.format(**names) in lines[0], (case, got)
        assert "Traceback" not in got["err"]
        assert got["heavy"] == [], (case, got)  # checked before torch / MyHDL / Ray
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before  # nothing trained, converted or written


def test_check_output_accepts_what_the_commands_may_write(tmp_path: Path) -> None:
    bundle = save_bundle(random_bundle(0), tmp_path / "old")
    check_output(bundle, replaces="manifest.json")  # an earlier bundle is replaced
    (tmp_path / "empty").mkdir()
    check_output(tmp_path / "empty")
    check_output(tmp_path / "a" / "b" / "c")  # created with its parents
    check_output(tmp_path / "f.pt", kind="file")
    check_output(bundle, "--build-root", reuse=True)  # build roots and run folders are reused
    check_output(None)


def test_check_output_refuses_a_folder_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tests run as root here, where every folder is writable: pretend this one is not
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != tmp_path and real(p, mode))
    with pytest.raises(LwfcError, match=r"^--out .*/x: cannot write in .* \(permission denied\)$"):
        check_output(tmp_path / "x")
    with pytest.raises(LwfcError, match="--checkpoint"):
        check_output(tmp_path / "c.pt", "--checkpoint", kind="file")
