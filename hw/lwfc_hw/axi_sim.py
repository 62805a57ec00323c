"""Simulation plumbing for ``lwfc_axi``: conversion (cached), cocotb builds (cached) and cocotb
runs in a child process with a timeout.

* :func:`prepare_axi` converts ``lwfc_axi`` for a plan into ``$LWFC_HW_CACHE/axi-<key>/``
  (the key hashes the plan and every RTL source, like :func:`lwfc_hw.sim.prepare`).
* :func:`build` compiles it for cocotb (``cocotb_tools.runner``) under a file lock.
* :func:`run_cocotb` runs cocotb test modules against a build in a run folder that holds the
  parameter RAMs' ``$readmemh`` files (:func:`write_memories`), in a child process (its own
  session, killed as a group on timeout); :func:`spawn_cocotb` starts one without waiting (the
  driver's simulation backend).

The child process is ``python -m lwfc_hw.axi_sim JOB.json``; it calls the cocotb runner and
exits with 0 only if every cocotb test passed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .axi import TOP, convert_axi
from .plan import CorePlan
from .sim import SimError, cache_root, hex_lines, plan_key

SIMULATORS = ("icarus", "verilator")


def simulator_available(simulator: str = "icarus") -> bool:
    """Whether ``simulator``'s executables are on PATH."""
    return shutil.which({"icarus": "iverilog", "verilator": "verilator"}[simulator]) is not None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare_axi(plan: CorePlan, root: Path | None = None) -> Path:
    """Convert ``lwfc_axi`` for ``plan`` into a cache folder (once); return the folder."""
    root = Path(root or cache_root())
    out = root / f"axi-{plan_key(plan)}"
    with _locked(root / f".axi-{plan_key(plan)}.lock"):
        if not (out / f"{TOP}.v").exists():
            tmp = Path(tempfile.mkdtemp(prefix="tmp-axi-", dir=root))
            try:
                convert_axi(plan, tmp)
                shutil.rmtree(out, ignore_errors=True)
                tmp.rename(out)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return out


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_CURRENT_TEST", None)  # the runner would then exit on failures itself
    return env


def _child(job: dict[str, Any], timeout: float, log: Path | None = None,
           wait: bool = True) -> subprocess.Popen[str] | subprocess.CompletedProcess[str]:
    """Run ``python -m lwfc_hw.axi_sim`` on ``job`` (written next to the log)."""
    job_dir = Path(job["job_dir"])
    job_dir.mkdir(parents=True, exist_ok=True)
    job_file = job_dir / f"job-{job['kind']}-{os.getpid()}-{time.monotonic_ns()}.json"
    job_file.write_text(json.dumps(job))
    cmd = [sys.executable, "-m", "lwfc_hw.axi_sim", str(job_file)]
    out = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True,
                            env=_child_env(), start_new_session=True)
    if log is not None:
        out.close()  # type: ignore[union-attr]
    if not wait:
        return proc
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise SimError(f"cocotb {job['kind']} timed out after {timeout:.0f} s "
                       f"(log: {log or 'not kept'})") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout or "", "")


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Kill the process group of ``proc`` (started with ``start_new_session``) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def build(rtl_dir: Path, simulator: str = "icarus", timeout: float = 900.0) -> Path:
    """Compile ``rtl_dir/lwfc_axi.v`` for cocotb with ``simulator``; return the build folder
    (cached: rebuilt only when the Verilog is newer than the build)."""
    if simulator not in SIMULATORS:
        raise SimError(f"unknown simulator {simulator!r} (use icarus or verilator)")
    bdir = rtl_dir / f"cocotb-{simulator}"
    marker = bdir / ".built"
    with _locked(rtl_dir / f".cocotb-{simulator}.lock"):
        if marker.exists():
            return bdir
        job = {"kind": "build", "job_dir": str(rtl_dir), "simulator": simulator,
               "sources": [str(rtl_dir / f"{TOP}.v")], "build_dir": str(bdir)}
        res = _child(job, timeout, log=rtl_dir / f"build-{simulator}.log")
        log = (rtl_dir / f"build-{simulator}.log").read_text()
        if res.returncode != 0:
            raise SimError(f"cocotb build with {simulator} failed:\n{log[-3000:]}")
        marker.write_text("ok\n")
    return bdir


def write_memories(plan: CorePlan, run_dir: Path,
                   images: Mapping[str, np.ndarray] | None = None) -> None:
    """Write every parameter RAM's ``$readmemh`` file into ``run_dir``: ``images`` (name ->
    values, see :func:`lwfc_hw.banking.memory_images`) or zeros (a fresh device whose weights
    the driver has to load)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for m in plan.mems:
        vals = images[m.name] if images is not None else np.zeros(m.depth, dtype=np.int64)
        (run_dir / m.hexfile).write_text(hex_lines(m, vals))


@dataclass
class CocotbResult:
    """Outcome of :func:`run_cocotb`: test counts, the log, the wall time in seconds."""

    tests: int
    failed: int
    log: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.tests > 0 and self.failed == 0


def _test_job(build_dir: Path, modules: Sequence[str], run_dir: Path, env: Mapping[str, str],
              pythonpath: Sequence[str | os.PathLike], testcase: str | None,
              simulator: str) -> dict[str, Any]:
    return {
        "kind": "test", "job_dir": str(run_dir), "simulator": simulator,
        "build_dir": str(build_dir), "sources": [str(Path(build_dir).parent / f"{TOP}.v")],
        "modules": list(modules), "test_dir": str(run_dir), "env": dict(env),
        "pythonpath": [str(p) for p in pythonpath], "testcase": testcase,
        "results": str(run_dir / "results.xml"),
    }


def run_cocotb(build_dir: Path, modules: Sequence[str], run_dir: Path, *,
               env: Mapping[str, str] | None = None,
               pythonpath: Sequence[str | os.PathLike] = (), testcase: str | None = None,
               simulator: str = "icarus", timeout: float = 1800.0) -> CocotbResult:
    """Run the cocotb test ``modules`` (importable via ``pythonpath``) against ``build_dir`` in
    ``run_dir``; ``env`` reaches the tests as environment variables. Raises
    :class:`~lwfc_hw.sim.SimError` on a timeout (the simulator is killed)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    job = _test_job(build_dir, modules, run_dir, env or {}, pythonpath, testcase, simulator)
    log = run_dir / "cocotb.log"
    t0 = time.perf_counter()
    res = _child(job, timeout, log=log)
    seconds = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    tests = failed = 0
    results = Path(job["results"])
    if results.exists():
        from cocotb_tools.check_results import get_results

        with contextlib.suppress(RuntimeError):
            tests, failed = get_results(results)
    if res.returncode != 0 and failed == 0:
        failed = max(1, tests)
    return CocotbResult(tests, failed, text, seconds)


def spawn_cocotb(build_dir: Path, modules: Sequence[str], run_dir: Path, *,
                 env: Mapping[str, str] | None = None,
                 pythonpath: Sequence[str | os.PathLike] = (),
                 simulator: str = "icarus") -> subprocess.Popen[str]:
    """Start :func:`run_cocotb`'s child without waiting; the log goes to
    ``run_dir/cocotb.log``. Stop it with :func:`kill_group`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    job = _test_job(build_dir, modules, run_dir, env or {}, pythonpath, None, simulator)
    proc = _child(job, 0.0, log=run_dir / "cocotb.log", wait=False)
    assert isinstance(proc, subprocess.Popen)
    return proc


# ----------------------------------------------------------------------------- child process
def _job_main(job: dict[str, Any]) -> int:
    from cocotb_tools.runner import get_runner

    runner = get_runner(job["simulator"])
    build_args = []
    if job["simulator"] == "verilator":
        build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O2", "-j", "2"]
    # the runner needs its build step in the same object; for a test it finds the build
    # up to date and skips the compilation
    runner.build(sources=job["sources"], hdl_toplevel=TOP, build_dir=job["build_dir"],
                 build_args=build_args, timescale=("1ns", "1ps"),
                 always=job["kind"] == "build")
    if job["kind"] == "build":
        return 0
    for p in reversed(job["pythonpath"]):
        sys.path.insert(0, p)
    results = runner.test(
        test_module=job["modules"], hdl_toplevel=TOP, build_dir=job["build_dir"],
        test_dir=job["test_dir"], extra_env=job["env"], testcase=job["testcase"],
        results_xml=job["results"], timescale=("1ns", "1ps"),
    )
    from cocotb_tools.check_results import get_results

    tests, failed = get_results(Path(results))
    print(f"lwfc_hw.axi_sim: {tests} tests, {failed} failed", flush=True)
    return 0 if tests and not failed else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child process: ``python -m lwfc_hw.axi_sim JOB.json``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m lwfc_hw.axi_sim JOB.json", file=sys.stderr)
        return 2
    job = json.loads(Path(args[0]).read_text())
    try:
        return _job_main(job)
    except SystemExit as exc:  # the runner exits on simulator failures
        return int(exc.code or 1) if not isinstance(exc.code, str) else 1
    finally:
        with contextlib.suppress(OSError):
            Path(args[0]).unlink()


if __name__ == "__main__":
    sys.exit(main())
