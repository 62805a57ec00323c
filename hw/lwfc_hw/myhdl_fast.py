"""A faster MyHDL elaboration and conversion, same output.

1. MyHDL's ``_getCallInfo`` (run once per ``@block`` and per
``@always`` / ``@always_comb`` / ``@always_seq`` / ``@instance`` generator) calls
``inspect.stack()``, which builds a ``FrameInfo`` with source context for *every* frame of the
stack and looks up each frame's module by scanning ``sys.modules``. Under pytest (a deep stack)
in a process that has imported torch (about 1,400 modules) that is most of the time of a core
conversion. The functions here return the same ``_CallInfo`` (the function name, the module
context flag, the caller's globals and locals) from ``sys._getframe`` instead: the frames are
the same objects ``inspect.stack()`` would return, at the same depths, so the converted Verilog
does not change (checked byte for byte with a fixed ``PYTHONHASHSEED``; the RTL tests compare
the cores with the golden model).
2. MyHDL's ``_makeAST`` (once per generator at conversion) reads, tokenizes and dedents the
generator function's source each time, though a core has hundreds of generators made by the
same few functions. :func:`make_ast` keeps the dedented source per code object and compiles a
fresh tree each call (the converter annotates the tree it gets, so trees are never shared).

:func:`install` puts these in place of MyHDL's (pinned ``myhdl==0.11.52``);
``lwfc_hw.memories``, which every RTL module imports, calls it once.
"""

from __future__ import annotations
import __future__

import ast
import inspect
import sys
from types import CodeType, FrameType, FunctionType

#: compiler flags of the ``__future__`` features (as MyHDL's ``_makeAST`` passes them on)
_FUTURE_FLAGS = 0
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag

#: code object -> (dedented source, source file, line offset) of a generator function
_SOURCES: dict[CodeType, tuple[str, str | None, int]] = {}


def _frame(depth: int) -> FrameType | None:
    """``inspect.stack()[depth].frame`` as seen from the function calling this one (depth 0:
    that function), or None when the stack is shorter."""
    f: FrameType | None = sys._getframe(1)
    for _ in range(depth):
        if f is None:
            return None
        f = f.f_back
    return f


def _symdict(frame: FrameType) -> dict:
    symdict = dict(frame.f_globals)
    symdict.update(frame.f_locals)
    return symdict


def block_call_info() -> object:
    """``myhdl._block._getCallInfo``: frames 3 (the block function) and 4 (its caller) of the
    caller's stack, one further for a list comprehension's own scope."""
    from myhdl import _block

    func = _frame(3)
    caller = _frame(4)
    assert func is not None  # MyHDL: a block is always called from a function
    if func.f_code.co_name == "<listcomp>":
        func, caller = caller, _frame(5)
    modctxt = False
    if caller is not None:
        f_locals = caller.f_locals
        if "self" in f_locals:
            modctxt = isinstance(f_locals["self"], _block._Block)
    return _block._CallInfo(func.f_code.co_name, modctxt, _symdict(func))


def instance_call_info() -> object:
    """``myhdl._instance._getCallInfo``: frame 2 (the function defining the generator) and
    frame 3 (its caller)."""
    from myhdl import _block, _instance

    func = _frame(2)
    caller = _frame(3)
    modctxt = False
    f_locals = caller.f_locals
    if "self" in f_locals:
        modctxt = isinstance(f_locals["self"], _block._Block)
    return _instance._CallInfo(func.f_code.co_name, modctxt, _symdict(func))


def make_ast(f: FunctionType) -> ast.Module:
    """``myhdl._util._makeAST``: the module AST of ``f``'s dedented source, with
    ``sourcefile`` and ``lineoffset`` set; the source is read and dedented once per code
    object."""
    from myhdl import _util

    code = f.__code__
    known = _SOURCES.get(code)
    if known is None:
        source = _util._dedent(inspect.getsource(f))
        known = (source, inspect.getsourcefile(f), inspect.getsourcelines(f)[1] - 1)
        _SOURCES[code] = known
    source, sourcefile, lineoffset = known
    flags = ast.PyCF_ONLY_AST | (code.co_flags & _FUTURE_FLAGS)
    tree = compile(source, filename="<unknown>", mode="exec", flags=flags, dont_inherit=True)
    tree.sourcefile = sourcefile
    tree.lineoffset = lineoffset
    return tree


def install() -> None:
    """Use the functions above in MyHDL (in every module that imported them by name)."""
    from myhdl import _always, _always_comb, _always_seq, _block, _instance, _util
    from myhdl.conversion import _analyze

    _block._getCallInfo = block_call_info
    for mod in (_instance, _always, _always_comb, _always_seq):
        mod._getCallInfo = instance_call_info
    for mod in (_util, _instance, _analyze):
        mod._makeAST = make_ast
