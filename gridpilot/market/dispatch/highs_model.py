"""Handing a LinearProgram to HiGHS: the one place that knows highspy's calling conventions."""

from __future__ import annotations

import highspy
from highspy._core import _Highs

from gridpilot.market.dispatch.program import LinearProgram

HighsSolver = _Highs
"""The bare HiGHS binding: the public highspy.Highs wrapper installs Python callbacks on every instance and
prints a banner to stdout on the first one, which would end up in the CLI's output."""


def new_highs(*, presolve: bool) -> HighsSolver:
    """A silent, single-threaded HiGHS instance: parallelism is across processes, not inside one solve."""
    highs = HighsSolver()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("presolve", "on" if presolve else "off")
    return highs


def pass_program(highs: HighsSolver, program: LinearProgram) -> None:
    """Hand a whole program to HiGHS (the first time a structure is seen)."""
    lp = highspy.HighsLp()
    lp.num_col_ = program.num_col
    lp.num_row_ = program.num_row
    lp.col_cost_ = program.cost
    lp.col_lower_ = program.col_lower
    lp.col_upper_ = program.col_upper
    lp.row_lower_ = program.row_lower
    lp.row_upper_ = program.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = program.num_col
    lp.a_matrix_.num_row_ = program.num_row
    lp.a_matrix_.start_ = program.start
    lp.a_matrix_.index_ = program.index
    lp.a_matrix_.value_ = program.value
    highs.passModel(lp)
