"""Sheet (AgentGym's ``sheet`` tool env, item ids ``sheet_<n>``): edit a spreadsheet through tools.

The agent opens the worksheet a goal names and reads, edits, sorts, filters and computes over it
with AgentGym's 20 Google-Sheets tools (``open_sheet`` ... ``get_note``), then calls ``finish``.
As in AgentGym the score is progress: after every successful call, the share of cells of the open
worksheet that equal the expected table, the best so far; success is a full match.

Where it differs from AgentGym:

- The workbook is local (:mod:`.sheet_backend`), not a copy of a Google spreadsheet made over the
  network for every episode and shared into the user's account.
- By default each task id is a generated workbook (three sheets of products, students or work
  items) and a goal in the styles of AgentGym's 20 (sort, delete matching records, add a total
  column, update a value, insert and sort, write a formula), its expected table computed by
  running the expert's calls on a copy.
- ``gym.make("AgentGym/Sheet-v0", tasks=<sheet.jsonl>, workbook=<the .xlsx>)`` plays AgentGym's
  own 20 tasks unchanged on AgentGym's workbook: task id n is the line whose ``id`` is n, scored
  against the line's expected table. Its expert knows that table: it opens the sheet, removes
  surplus rows or columns and writes the cells that differ (it does not follow the line's
  reference path, whose results depend on Google's formatting).
- The share of equal cells is taken over the larger of the two tables' shapes, not (as AgentGym)
  over the rows and columns both have, where a sheet missing a row it should have gained, or
  keeping rows it should have deleted, could score 1.
- Cells compare as text or, when both are numbers, as numbers (Google shows ``68`` or ``68.00``
  by the cell's format, which cannot be reproduced exactly); formulas are computed once when
  written.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentgym_envs.core import Outcome
from agentgym_envs.envs.tools.base import (
    CHECK_VALID_ACTIONS,
    Param,
    PlanStep,
    Tool,
    ToolEnv,
    ToolError,
    load_records,
    observe,
)
from agentgym_envs.envs.tools.sheet_backend import (
    MAX_ROWS,
    OPERATORS,
    Grid,
    Workbook,
    a1,
    cell_input,
    cells_of,
    display,
    find_cells,
    formula_value,
    load_workbook,
    match_score,
    parse_a1,
)
from agentgym_envs.registration import engine_imports

_POS = Param("position", "string", "a cell in A1 notation, e.g. 'B3'")
_START = Param("start_position", "string", "top-left cell of the range, A1 notation")
_END = Param("end_position", "string", "bottom-right cell of the range, A1 notation")
_VALUES = Param("values_list", "array", "a list of lists of values (numeric text becomes a number)")
_OPERATOR = Param("operator", "string", f"one of {', '.join(OPERATORS)}")
_POSITIONS = Param("position_list", "array", "cells in A1 notation (instead of a range)", required=False)
_CHANGED = "the sheet's values after the change."
TOOLS = (
    Tool(
        "open_sheet",
        "Opens a worksheet by name; the other tools act on it.",
        (Param("name", "string", "the worksheet's name"),),
        "the worksheet.",
    ),
    Tool(
        "del_sheet",
        "Deletes a worksheet.",
        (Param("name", "string", "the worksheet's name"),),
        "whether it worked.",
    ),
    Tool(
        "freeze_data",
        "Freezes the first rows or columns (frozen rows stay in place when sorting).",
        (Param("dimension", "string", "'rows' or 'columns'"), Param("num", "integer", "how many to freeze")),
        "whether it worked.",
    ),
    Tool(
        "get_A1_annotation",
        "Turns a (row, col) pair, both from 1, into A1 notation.",
        (Param("row", "integer", "row number"), Param("col", "integer", "column number")),
        "the A1 position.",
    ),
    Tool(
        "insert_cols",
        "Inserts columns at a column index; each inner list is one column, top to bottom.",
        (_VALUES, Param("col_idx", "integer", "where the first new column goes (1 = A)")),
        _CHANGED,
    ),
    Tool(
        "insert_rows",
        "Inserts rows at a row index; each inner list is one row, left to right.",
        (_VALUES, Param("row_idx", "integer", "where the first new row goes (1 = the top)")),
        _CHANGED,
    ),
    Tool(
        "delete_batch_data",
        "Deletes whole rows or columns.",
        (
            Param("dimension", "string", "'row' or 'col'"),
            Param("index_list", "array", "row or column numbers, from 1"),
        ),
        _CHANGED,
    ),
    Tool("update_cell", "Writes one value into a cell.", (_POS, Param("value", None, "the value")), _CHANGED),
    Tool(
        "update_cell_by_formula",
        "Writes into a cell the result of an operator over a range (start/end) or a list of cells.",
        (
            Param("start_position", "string", "range start", required=False),
            Param("end_position", "string", "range end", required=False),
            _POSITIONS,
            Param("result_position", "string", "the cell that gets the result"),
            _OPERATOR,
        ),
        _CHANGED,
    ),
    Tool(
        "update_range",
        "Writes a block of values from start_position to end_position, row by row.",
        (_START, _END, _VALUES),
        _CHANGED,
    ),
    Tool(
        "sort_sheet_by_col",
        "Sorts the rows below the frozen ones by a column.",
        (
            Param("col_num", "integer", "the column number, from 1"),
            Param("order", "string", "'asc' or 'des'"),
        ),
        _CHANGED,
    ),
    Tool(
        "merge_cells",
        "Merges a block of cells into one (the top-left value stays).",
        (_START, _END),
        _CHANGED,
    ),
    Tool(
        "update_note",
        "Sets the note of a cell.",
        (_POS, Param("content", "string", "the note's text")),
        "the note now in the cell.",
    ),
    Tool("get_all_values", "Reads every value of the open sheet.", (), "a list of rows of text."),
    Tool("get_range_values", "Reads the values of a range.", (_START, _END), "a list of rows of text."),
    Tool("get_cell_value", "Reads one cell.", (_POS,), "the cell's text."),
    Tool(
        "get_value_by_formula",
        "Computes an operator over a range (start/end) or a list of cells without writing it.",
        (
            Param("start_position", "string", "range start", required=False),
            Param("end_position", "string", "range end", required=False),
            _POSITIONS,
            _OPERATOR,
        ),
        "the result.",
    ),
    Tool(
        "filter_cells",
        "Finds the cells whose text matches a regular expression, optionally within one row or column.",
        (
            Param("query", "string", "a regular expression (or text)"),
            Param("in_row", ("integer", "null"), "row to search", required=False),
            Param("in_column", ("integer", "null"), "column to search", required=False),
        ),
        "the matching cells in A1 notation.",
    ),
    Tool("get_note", "Reads the note of a cell.", (_POS,), "the note, or '' when there is none."),
    CHECK_VALID_ACTIONS,
    Tool("finish", "Ends the task when the sheet is as the goal asks.", (), "the sheet's values."),
)
_SHEET_IN_GOAL = re.compile(r'"(Sheet\d{1,2})"')


class SheetToolkit:
    """The Sheet tools over one episode's :class:`Workbook` (AgentGym's ``sheet_toolkits``)."""

    def __init__(self, book: Workbook):
        self.book = book

    def open_sheet(self, name: str) -> str:
        if name not in self.book.sheets:
            raise ToolError(f"WorksheetNotFound({name!r}): there is no sheet named {name!r}.")
        self.book.open_sheet(name)
        return f"<Worksheet {name!r} id:{list(self.book.sheets).index(name)}>"

    def del_sheet(self, name: str) -> str:
        if name not in self.book.sheets:
            raise ToolError(f"WorksheetNotFound({name!r}): there is no sheet named {name!r}.")
        if self.book.open is self.book.sheets.pop(name):
            self.book.open = None
        return f"You have deleted sheet {name} successfully"

    def freeze_data(self, dimension: str, num: int) -> str:
        grid = self.book.grid()
        if num < 0:
            raise ToolError("num cannot be negative.")
        if dimension == "rows":
            grid.frozen_rows = num
        elif dimension == "columns":
            grid.frozen_cols = num
        else:
            raise ToolError("the dimension should be one of the rows/columns")
        return f"You have successfully freeze the {dimension} {num}"

    def get_A1_annotation(self, row: int, col: int) -> str:
        self.book.grid()
        if row < 1 or col < 1:
            raise ToolError("row and col count from 1.")
        return a1(row, col)

    def insert_cols(self, values_list: list, col_idx: int) -> list:
        self.book.grid().insert_cols(_index(col_idx), _two_d(values_list))
        return self.get_all_values()

    def insert_rows(self, values_list: list, row_idx: int) -> list:
        self.book.grid().insert_rows(_index(row_idx), _two_d(values_list))
        return self.get_all_values()

    def delete_batch_data(self, dimension: str, index_list: list) -> list:
        grid = self.book.grid()
        indexes = sorted({_index(i) for i in index_list}, reverse=True)
        rows, cols = grid.size()
        if dimension == "row":
            if len(indexes) >= rows - 1:  # AgentGym's guard: the header row must stay
                raise ToolError("Warning: You cannot delete whole sheet at once, please try other functions")
            for index in indexes:
                grid.delete_row(index)
        elif dimension == "col":
            if len(indexes) >= cols:
                raise ToolError("Warning: You cannot delete whole sheet at once, please try other functions")
            for index in indexes:
                grid.delete_col(index)
        else:
            raise ToolError("Wrong dimension, please choose from row/col")
        return self.get_all_values()

    def update_cell(self, position: str, value: Any) -> list:
        grid = self.book.grid()
        grid.set(*parse_a1(position), cell_input(value))
        return self.get_all_values()

    def update_cell_by_formula(
        self, operator: str, result_position: str, start_position=None, end_position=None, position_list=None
    ) -> list:
        grid = self.book.grid()
        target = parse_a1(result_position)
        grid.set(
            *target,
            formula_value(
                grid, cells_of(grid, start_position, end_position, position_list), _operator(operator)
            ),
        )
        return self.get_all_values()

    def update_range(self, start_position: str, end_position: str, values_list: list) -> list:
        grid = self.book.grid()
        (r1, c1), (r2, c2) = parse_a1(start_position), parse_a1(end_position)
        rows, cols = grid.size()
        if (r1, c1) == (1, 1) and (r2, c2) == (rows, cols):
            raise ToolError("Warning: You cannot update whole sheet at once, please try other functions")
        values = _two_d(values_list)
        if len(values) > r2 - r1 + 1 or any(len(row) > c2 - c1 + 1 for row in values):
            raise ToolError(f"values_list does not fit in {start_position}:{end_position}.")
        for dr, row in enumerate(values):
            for dc, value in enumerate(row):
                grid.set(r1 + dr, c1 + dc, cell_input(value))
        return self.get_all_values()

    def sort_sheet_by_col(self, col_num: int, order: str) -> list:
        if order not in ("asc", "des"):
            raise ToolError("order must be 'asc' or 'des'.")
        self.book.grid().sort_by(_index(col_num), descending=order == "des")
        return self.get_all_values()

    def merge_cells(self, start_position: str, end_position: str) -> list:
        grid = self.book.grid()
        (r1, c1), (r2, c2) = parse_a1(start_position), parse_a1(end_position)
        grid.merge(min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2))
        return self.get_all_values()

    def update_note(self, position: str, content: str) -> str:
        self.book.grid().notes[parse_a1(position)] = content
        return f"Updated! the {position}'s note is {content}"

    def get_all_values(self) -> list:
        return self.book.grid().values()

    def get_range_values(self, start_position: str, end_position: str) -> list:
        grid = self.book.grid()
        (r1, c1), (r2, c2) = parse_a1(start_position), parse_a1(end_position)
        rows, cols = grid.size()  # nothing is shown past the used range (trailing empties are trimmed)
        return grid.values(min(r1, r2), min(c1, c2), min(max(r1, r2), rows), min(max(c1, c2), max(cols, 1)))

    def get_cell_value(self, position: str) -> str | None:
        return self.book.grid().shown(*parse_a1(position)) or None

    def get_value_by_formula(
        self, operator: str, start_position=None, end_position=None, position_list=None
    ) -> str:
        grid = self.book.grid()
        return display(
            formula_value(
                grid, cells_of(grid, start_position, end_position, position_list), _operator(operator)
            )
        )

    def filter_cells(self, query: str, in_row=None, in_column=None) -> list:
        return find_cells(self.book.grid(), query, in_row, in_column)

    def get_note(self, position: str) -> str:
        return self.book.grid().notes.get(parse_a1(position), "")


def _index(value: Any) -> int:
    text = str(value).strip()
    number = int(text) if not isinstance(value, bool) and text.isdigit() and len(text) < 7 else None
    if number is None or not 1 <= number <= MAX_ROWS:
        raise ToolError(f"{value!r} is not a row or column number (they count from 1 to {MAX_ROWS}).")
    return number


def _two_d(values: list) -> list[list[Any]]:
    if not all(isinstance(row, (list, tuple)) for row in values):
        raise ToolError("The values_list needs to be a 2D list, please check your parameter")
    return [list(row) for row in values]


def _operator(operator: str) -> str:
    if operator not in OPERATORS:
        raise ToolError(f"the operator should be one of the {list(OPERATORS)}")
    return operator


@dataclass(frozen=True)
class SheetTaskSpec:
    goal: str
    sheets: tuple[Grid, ...]
    expected: list[list[str]] | None  # None: the target sheet after the expert's plan
    target: str


class SheetEnv(ToolEnv):
    """Edit worksheets through AgentGym's spreadsheet tools until they match the goal."""

    tools = TOOLS
    system_message = (
        "You can use actions to help people solve problems. You work on a spreadsheet through "
        "the tools below. Open the sheet the goal names before anything else; positions are in "
        "A1 notation; rows and columns count from 1; freeze the header row before sorting so it "
        "stays on top."
    )

    def __init__(
        self,
        split: str = "train",
        render_mode: str | None = None,
        tasks: str | Path | None = None,
        workbook: str | Path | None = None,
    ):
        super().__init__(split=split, render_mode=render_mode)
        if (tasks is None) != (workbook is None):
            raise ValueError(
                "AgentGym's Sheet tasks run on its workbook: pass both tasks=<sheet.jsonl> and "
                "workbook=<the .xlsx>, or neither"
            )
        self._records = load_records(str(tasks)) if tasks is not None else None
        self._sheets = _load_sheets(str(workbook)) if workbook is not None else None
        self.book: Workbook | None = None
        self.toolkit: SheetToolkit | None = None
        self._expected: list[list[str]] = []
        self._scored: list[list[str]] | None = None  # the values last scored, and their match
        self._match = 0.0

    def _new_task(self, task_id: int) -> tuple[str, list[PlanStep]]:
        spec, plan = _generated(task_id) if self._records is None else self._agentgym_task(task_id)
        self.book = Workbook(list(spec.sheets))
        self.toolkit = SheetToolkit(self.book)
        self._expected = spec.expected
        self._scored, self._match = None, 0.0
        return spec.goal, list(plan)

    def _progress(self) -> float:
        if self.book.open is None:
            return self.score
        values = self.book.open.values()
        if values is not self._scored:  # the values object is replaced by every change
            self._scored = values
            self._match = match_score(values, self._expected)
        return max(self.score, self._match)

    def _finish(self, args: dict[str, Any]) -> Outcome:
        if self.book.open is None:
            return Outcome(observe("Please open a sheet before operating it"), self.score, done=True)
        return Outcome(observe(self.book.open.values()), self._progress(), done=True)

    def _agentgym_task(self, task_id: int) -> tuple[SheetTaskSpec, list[PlanStep]]:
        record = self._records.get(task_id)
        if record is None:
            raise ValueError(
                f"the Sheet tasks file has no task with id {task_id} (ids "
                f"{min(self._records)}..{max(self._records)})"
            )
        expected = record["additional_info"]["answer"]
        expected = json.loads(expected) if isinstance(expected, str) else expected
        found = _SHEET_IN_GOAL.search(record["goal"])
        target = found.group(1) if found else "Sheet1"
        spec = SheetTaskSpec(record["goal"].strip(), self._sheets, expected, target)
        return spec, _replay_plan(spec, self.max_rounds, task_id, id(self._records))


@lru_cache(maxsize=4)
def _load_sheets(path: str) -> tuple[Grid, ...]:
    with engine_imports("Sheet"):
        return tuple(load_workbook(path))


@lru_cache(maxsize=256)
def _generated(task_id: int) -> tuple[SheetTaskSpec, tuple[PlanStep, ...]]:
    """A generated task with its expected table (kept: making one runs the whole plan)."""
    spec, plan = generated_task(task_id)
    expected = _values_after(spec, plan)
    return SheetTaskSpec(spec.goal, spec.sheets, expected, spec.target), tuple(plan)


def _values_after(spec: SheetTaskSpec, plan: list[PlanStep]) -> list[list[str]]:
    toolkit = SheetToolkit(Workbook(list(spec.sheets)))
    for step in plan:
        if step.tool not in ("finish", "check_valid_actions"):
            getattr(toolkit, step.tool)(**step.args)
    return toolkit.book.sheets[spec.target].values()


# ------------------------------------------------------------------------------ the replay expert
_REPLAY_PLANS: dict[tuple[int, int], list[PlanStep]] = {}


def _replay_plan(spec: SheetTaskSpec, max_rounds: int, task_id: int, source: int) -> list[PlanStep]:
    key = (source, task_id)
    if key not in _REPLAY_PLANS:
        _REPLAY_PLANS[key] = replay_plan(spec, max_rounds)
    return _REPLAY_PLANS[key]


def replay_plan(spec: SheetTaskSpec, max_rounds: int) -> list[PlanStep]:
    """Open the sheet, read it, cut surplus rows and columns, write the rows that differ, finish."""
    grid = next(g for g in spec.sheets if g.title == spec.target).copy()
    want = spec.expected
    plan = [
        PlanStep(f"The goal is about {spec.target}; I open it first.", "open_sheet", {"name": spec.target}),
        PlanStep("I read the whole sheet to see what must change.", "get_all_values"),
    ]
    rows, cols = grid.size()
    if rows > len(want):
        extra = list(range(len(want) + 1, rows + 1))
        plan.append(
            PlanStep(
                f"The result has {len(want)} rows; rows {extra} must go.",
                "delete_batch_data",
                {"dimension": "row", "index_list": extra},
            )
        )
    width = max(len(r) for r in want)
    if cols > width:
        extra = list(range(width + 1, cols + 1))
        plan.append(
            PlanStep(
                f"The result has {width} columns; the rest must go.",
                "delete_batch_data",
                {"dimension": "col", "index_list": extra},
            )
        )
    shown = grid.values(1, 1, len(want), width)
    differ = [
        r
        for r in range(len(want))
        if r >= len(shown) or [_norm(x) for x in shown[r][: len(want[r])]] != [_norm(x) for x in want[r]]
    ]
    if differ:
        first, last = differ[0], differ[-1]
        blocks = (
            [(first, last)] if (first, last) != (0, len(want) - 1) or len(want) == 1 else [(0, 0), (1, last)]
        )
        for top, bottom in blocks:
            plan.append(
                PlanStep(
                    f"Rows {top + 1} to {bottom + 1} must read as the goal asks; I write them.",
                    "update_range",
                    {
                        "start_position": a1(top + 1, 1),
                        "end_position": a1(bottom + 1, width),
                        "values_list": [list(r) for r in want[top : bottom + 1]],
                    },
                )
            )
    plan.append(PlanStep("The sheet now holds the requested table.", "finish"))
    return plan[: max_rounds - 1] + [plan[-1]] if len(plan) > max_rounds else plan


def _norm(text: str) -> str:
    from agentgym_envs.envs.tools.base import to_number

    number = to_number(text)
    return repr(number) if number is not None else text


# ------------------------------------------------------------------------------ generated tasks
PRODUCTS = (
    ("apple", "Fruits", 1.2), ("banana", "Fruits", 0.5), ("orange", "Fruits", 0.8), ("pear", "Fruits", 1.1),
    ("carrot", "Vegetables", 0.4), ("potato", "Vegetables", 0.3), ("spinach", "Vegetables", 2.1),
    ("beef", "Meat", 8.5), ("pork", "Meat", 3.2), ("chicken", "Meat", 9.7), ("lamb", "Meat", 6.1),
    ("salmon", "Seafood", 12.7), ("shrimp", "Seafood", 5.4), ("tuna", "Seafood", 7.9),
)  # fmt: skip
STUDENTS = (
    "Alice", "Bob", "Carmen", "Daniel", "Eva", "Farid", "Grace", "Hugo", "Ines", "Jack",
    "Kenji", "Lena", "Marco", "Nadia", "Oscar", "Priya",
)  # fmt: skip
WORK = (
    "App Development", "Client Meeting", "Database Backup", "Market Research", "Newsletter",
    "Security Audit", "Website Update", "Budget Review", "Hiring Interviews", "Office Move",
)  # fmt: skip
PEOPLE = ("Susan Clark", "Mary Johnson", "James Wilson", "Linda Jackson", "Omar Haddad")
STATUSES = ("Completed", "In Progress", "Not Started")


def _table(kind: str, rng: random.Random) -> tuple[list[list[Any]], list[str]]:
    """A header row and records, and the number format of each column."""
    if kind == "products":
        items = rng.sample(PRODUCTS, rng.randint(6, 10))
        rows = [[n, c, p, float(rng.randint(1, 90)), rng.choice((0.0, 0.05, 0.1, 0.15))] for n, c, p in items]
        return [["Product", "Category", "Price", "Quantity", "Discount"]] + rows, [
            "General",
            "General",
            "#,##0.00",
            "#,##0.00",
            "0.00",
        ]
    if kind == "students":
        names = rng.sample(STUDENTS, rng.randint(6, 10))
        rows = [[n, rng.randint(1, 3)] + [rng.randint(55, 100) for _ in range(4)] for n in names]
        return [["Name", "Class", "Math", "English", "Physics", "Chemistry"]] + rows, ["General"] * 6
    tasks = rng.sample(WORK, rng.randint(5, 8))
    rows = [
        [
            t,
            rng.choice(PEOPLE),
            rng.choice(STATUSES),
            rng.choice(("High", "Medium", "Low")),
            rng.randint(2, 40),
        ]
        for t in tasks
    ]
    return [["Task Name", "Responsible Person", "Status", "Priority", "Estimated Hours"]] + rows, [
        "General"
    ] * 5


def _grid(title: str, rows: list[list[Any]], formats: list[str]) -> Grid:
    grid = Grid(title)
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row, 1):
            grid.set(r, c, value)
            if r > 1:
                grid.formats[r - 1][c - 1] = formats[c - 1]
    return grid


def generated_task(task_id: int) -> tuple[SheetTaskSpec, list[PlanStep]]:
    """Task ``task_id`` of the generated set: a three-sheet workbook and one goal on one sheet."""
    rng = random.Random(0x5EE7 * 1_000_003 + task_id)
    kinds = [rng.choice(("products", "students", "work")) for _ in range(3)]
    tables = [_table(kind, rng) for kind in kinds]
    sheets = tuple(_grid(f"Sheet{i + 1}", rows, formats) for i, (rows, formats) in enumerate(tables))
    index = rng.randrange(3)
    name, (rows, _), kind = f"Sheet{index + 1}", tables[index], kinds[index]
    while True:
        made = GOALS[rng.randrange(len(GOALS))](name, rows, kind, rng)
        if made is not None:
            goal, steps = made
            opening = [
                PlanStep(f"The goal is about {name}; I open it first.", "open_sheet", {"name": name}),
                PlanStep("I read its values.", "get_all_values"),
            ]
            plan = opening + steps + [PlanStep("The sheet is as the goal asks.", "finish")]
            return SheetTaskSpec(goal, sheets, None, name), plan


def _sortable(rows, rng):
    col = rng.randrange(1, len(rows[0]))
    return col, rows[0][col]


def _g_sort(name, rows, kind, rng):
    col, header = _sortable(rows, rng)
    order = rng.choice(("asc", "des"))
    words = "ascending" if order == "asc" else "descending"
    goal = f'"{name}" holds a table; please sort it in {words} order by "{header}".'
    return goal, [
        PlanStep(
            "The header row must stay on top, so I freeze it before sorting.",
            "freeze_data",
            {"dimension": "rows", "num": 1},
        ),
        PlanStep(
            f'"{header}" is column {col + 1}; I sort by it, {words}.',
            "sort_sheet_by_col",
            {"col_num": col + 1, "order": order},
        ),
    ]


def _g_delete(name, rows, kind, rng):
    col = {"products": 1, "work": 2}.get(kind)
    if col is None:
        return None
    value = rng.choice([r[col] for r in rows[1:]])
    hits = [i + 1 for i, r in enumerate(rows) if i and r[col] == value]
    if len(hits) >= len(rows) - 2:
        return None
    goal = f'In "{name}", delete every record whose "{rows[0][col]}" is "{value}".'
    return goal, [
        PlanStep(
            f'I look for "{value}" in column {col + 1}.',
            "filter_cells",
            {"query": f"^{value}$", "in_column": col + 1},
        ),
        PlanStep(
            f"Rows {hits} hold it; I delete them.",
            "delete_batch_data",
            {"dimension": "row", "index_list": hits},
        ),
    ]


def _g_total(name, rows, kind, rng):
    if kind != "students":
        return None
    totals = [sum(r[2:6]) for r in rows[1:]]
    goal = (
        f'In "{name}", add a column "Total" after the last column with each student\'s total of the '
        "four subject scores."
    )
    return goal, [
        PlanStep(
            f"The totals of Math to Chemistry per student are {totals}; I add them as column 7.",
            "insert_cols",
            {"values_list": [["Total"] + totals], "col_idx": 7},
        ),
    ]


def _g_update(name, rows, kind, rng):
    r = rng.randrange(1, len(rows))
    col = {"products": 3, "students": rng.randrange(2, 6), "work": 4}[kind]
    old = rows[r][col]
    new = old + rng.randint(1, 9)
    goal = f'In "{name}", the "{rows[0][col]}" of {rows[r][0]} has changed to {new:g}; please update it.'
    return goal, [
        PlanStep(
            f'{rows[r][0]} is in row {r + 1} and "{rows[0][col]}" is column {col + 1}.',
            "update_cell",
            {"position": a1(r + 1, col + 1), "value": new},
        )
    ]


def _g_insert_sort(name, rows, kind, rng):
    if kind != "students":
        return None
    new_name = rng.choice(
        [n for n in ("Nelson", "Robert", "Quincy", "Yara", "Zoe") if n not in [r[0] for r in rows]]
    )
    record = [new_name, rng.randint(1, 3)] + [rng.randint(55, 100) for _ in range(4)]
    goal = (
        f'Insert "{" ".join(map(str, record))}" into "{name}" and sort the table by "Name" in '
        "ascending order."
    )
    return goal, [
        PlanStep(
            "I add the new record below the last row.",
            "insert_rows",
            {"values_list": [record], "row_idx": len(rows) + 1},
        ),
        PlanStep(
            "I freeze the header row so that it stays on top.", "freeze_data", {"dimension": "rows", "num": 1}
        ),
        PlanStep("Name is column 1; I sort ascending.", "sort_sheet_by_col", {"col_num": 1, "order": "asc"}),
    ]


def _g_formula(name, rows, kind, rng):
    col = {"products": 2, "students": rng.randrange(2, 6), "work": 4}[kind]
    operator = rng.choice(("SUM", "AVERAGE", "MAX", "MIN"))
    words = {"SUM": "total", "AVERAGE": "average", "MAX": "highest", "MIN": "lowest"}[operator]
    start, end, result = a1(2, col + 1), a1(len(rows), col + 1), a1(len(rows) + 1, col + 1)
    goal = (
        f'In "{name}", write the {words} "{rows[0][col]}" of all records into the cell just below the '
        "last one in that column."
    )
    return goal, [
        PlanStep(
            f"Column {col + 1} runs from {start} to {end}; {operator} goes in {result}.",
            "update_cell_by_formula",
            {"start_position": start, "end_position": end, "result_position": result, "operator": operator},
        )
    ]


GOALS = (_g_sort, _g_delete, _g_total, _g_update, _g_insert_sort, _g_formula)
