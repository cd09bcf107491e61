"""A spreadsheet behind the Sheet tools: AgentGym's Google-Sheets calls, on a local workbook.

A :class:`Grid` is one worksheet: cell values (text or numbers), each cell's number format, notes,
merged ranges and frozen rows. It is kept as plain Python lists because an episode starts from a
fresh copy of its workbook: building openpyxl cells costs ~15 us each on the project's machine,
which would make every reset take milliseconds. openpyxl reads AgentGym's ``.xlsx`` (values,
number formats, notes, merges, frozen panes: :func:`load_workbook`) and writes an episode's
workbook back out (:meth:`Workbook.to_openpyxl`).

Values read back as Google Sheets shows them (``get_values`` with merged cells combined): text as
written, numbers through the cell's number format (``#,##0.00`` shows 8.5 as ``8.50``; General
shows 68.0 as ``68``). As AgentGym's tools do, numeric text written to a cell becomes a number.
Formulas (``update_cell_by_formula``) are computed when written and stored as their value: there
is no recalculation engine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from agentgym_envs.envs.tools.base import ToolError, parse_regex, to_number

_A1 = re.compile(r"^([A-Z]{1,2})([1-9][0-9]{0,5})$")
# A worksheet's bounds here (Google's are larger): positions past them are refused, so one call
# cannot make the grid allocate millions of cells.
MAX_ROWS, MAX_COLS = 10_000, 702  # 702 = column ZZ
OPERATORS = ("SUM", "AVERAGE", "COUNT", "MAX", "MIN", "MINUS", "PRODUCT")
Cell = tuple[int, int]  # (row, col), 1-based


def column_letter(col: int) -> str:
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def a1(row: int, col: int) -> str:
    return f"{column_letter(col)}{row}"


def parse_a1(position: Any) -> Cell:
    match = _A1.match(str(position).strip().upper())
    if not match:
        raise ToolError(
            f"{str(position)[:20]!r} is not a cell position in A1 notation (a column letter and a row "
            "number, e.g. 'B3'); get_A1_annotation(row, col) gives one."
        )
    col = 0
    for letter in match.group(1):
        col = col * 26 + ord(letter) - 64
    row = int(match.group(2))
    if row > MAX_ROWS:
        raise ToolError(f"row {row} is past the sheet's last row ({MAX_ROWS}).")
    return row, col


def display(value: Any, number_format: str = "General") -> str:
    """A cell as Google Sheets shows it."""
    if value is None:
        return ""
    if type(value) is str:  # the common case first: text shows as written
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "#NUM!"
    fmt = number_format or "General"
    if fmt == "General" or "0" not in fmt:
        if float(value).is_integer():
            return str(int(value))
        return repr(round(float(value), 10))
    percent = fmt.endswith("%")
    decimals = len(fmt.split(".")[1].rstrip("%")) if "." in fmt else 0
    comma = "," if "#,##" in fmt else ""
    shown = float(value) * (100 if percent else 1)
    return f"{shown:{comma}.{decimals}f}" + ("%" if percent else "")


def cell_input(value: Any) -> Any:
    """What a written value becomes: numeric text turns into a number (AgentGym's
    ``convert_value_to_float``)."""
    if isinstance(value, str):
        number = to_number(value)
        return number if number is not None and "," not in value else value
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    return str(value)


@dataclass
class Grid:
    """One worksheet. ``rows[r][c]`` holds the value of cell (r+1, c+1); ``formats`` the number
    formats at the same places ("General" where missing)."""

    title: str
    rows: list[list[Any]] = field(default_factory=list)
    formats: list[list[str]] = field(default_factory=list)
    notes: dict[Cell, str] = field(default_factory=dict)
    merged: list[tuple[Cell, Cell]] = field(default_factory=list)
    frozen_rows: int = 0
    frozen_cols: int = 0
    # The shown values, kept until the next change: every tool call reads them (the score, the
    # observation), and a read is ~1 us per cell on the project's machine.
    _shown: list[list[str]] | None = field(default=None, repr=False, compare=False)

    def copy(self) -> Grid:
        return Grid(
            self.title,
            [list(row) for row in self.rows],
            [list(row) for row in self.formats],
            dict(self.notes),
            list(self.merged),
            self.frozen_rows,
            self.frozen_cols,
            self._shown,  # same content, same shown values (the cached list is never changed)
        )

    # ------------------------------------------------------------------ cells
    def _ensure(self, row: int, col: int) -> None:
        while len(self.rows) < row:
            self.rows.append([])
            self.formats.append([])
        if row and len(self.rows[row - 1]) < col:
            missing = col - len(self.rows[row - 1])
            self.rows[row - 1].extend([None] * missing)
            self.formats[row - 1].extend(["General"] * missing)

    def get(self, row: int, col: int) -> Any:
        if row <= len(self.rows) and col <= len(self.rows[row - 1]):
            return self.rows[row - 1][col - 1]
        return None

    def fmt(self, row: int, col: int) -> str:
        if row <= len(self.formats) and col <= len(self.formats[row - 1]):
            return self.formats[row - 1][col - 1]
        return "General"

    def set(self, row: int, col: int, value: Any) -> None:
        self._shown = None
        self._ensure(row, col)
        self.rows[row - 1][col - 1] = value

    def shown(self, row: int, col: int) -> str:
        return display(self.get(row, col), self.fmt(row, col))

    # ------------------------------------------------------------------ reading
    def size(self) -> tuple[int, int]:
        """Rows and columns of the used range (trailing empty rows and columns left out)."""
        last_row = last_col = 0
        for r, row in enumerate(self.rows, 1):
            for c in range(len(row), 0, -1):
                if row[c - 1] not in (None, ""):
                    last_row, last_col = r, max(last_col, c)
                    break
        return last_row, last_col

    def values(
        self, top: int = 1, left: int = 1, bottom: int | None = None, right: int | None = None
    ) -> list[list[str]]:
        """Displayed values of a range, merged cells showing their top-left value, trailing
        empty rows left out (as gspread's ``get_values(..., combine_merged_cells=True)``).
        The whole sheet's values are cached until the next change: treat them as read-only."""
        whole = top == 1 and left == 1 and bottom is None and right is None
        if whole and self._shown is not None:
            return self._shown
        rows, cols = self.size()
        bottom = rows if bottom is None else bottom
        right = cols if right is None else right
        shown = []
        for r in range(top - 1, bottom):
            values = self.rows[r] if r < len(self.rows) else []
            formats = self.formats[r] if r < len(self.formats) else []
            width = len(values)
            shown.append(
                [display(values[c], formats[c]) if c < width else "" for c in range(left - 1, right)]
            )
        for (r1, c1), (r2, c2) in self.merged:
            head = self.shown(r1, c1)
            for r in range(max(r1, top), min(r2, bottom) + 1):
                for c in range(max(c1, left), min(c2, right) + 1):
                    shown[r - top][c - left] = head
        while shown and not any(shown[-1]):
            shown.pop()
        if whole:
            self._shown = shown
        return shown

    def merge(self, top: int, left: int, bottom: int, right: int) -> None:
        for r in range(top, bottom + 1):
            for c in range(left, right + 1):
                if (r, c) != (top, left):
                    self.set(r, c, None)
        self.merged.append(((top, left), (bottom, right)))
        self._shown = None

    # ------------------------------------------------------------------ changes
    def insert_rows(self, index: int, rows: list[list[Any]]) -> None:
        self._shown = None
        self._ensure(index - 1, 1)
        for offset, values in enumerate(rows):
            self.rows.insert(index - 1 + offset, [cell_input(v) for v in values])
            self.formats.insert(index - 1 + offset, ["General"] * len(values))
        self._shift_notes(rows=len(rows), at_row=index)

    def insert_cols(self, index: int, cols: list[list[Any]]) -> None:
        self._shown = None
        height = max(len(self.rows), max((len(c) for c in cols), default=0))
        self._ensure(height, 1)
        for r in range(height):
            row, formats = self.rows[r], self.formats[r]
            if len(row) < index - 1:
                formats.extend(["General"] * (index - 1 - len(row)))
                row.extend([None] * (index - 1 - len(row)))
            for offset, values in enumerate(cols):
                row.insert(index - 1 + offset, cell_input(values[r]) if r < len(values) else None)
                formats.insert(index - 1 + offset, "General")
        self._shift_notes(cols=len(cols), at_col=index)

    def delete_row(self, index: int) -> None:
        self._shown = None
        if index <= len(self.rows):
            del self.rows[index - 1]
            del self.formats[index - 1]
        self._shift_notes(rows=-1, at_row=index + 1)

    def delete_col(self, index: int) -> None:
        self._shown = None
        for row, formats in zip(self.rows, self.formats):
            if index <= len(row):
                del row[index - 1]
                del formats[index - 1]
        self._shift_notes(cols=-1, at_col=index + 1)

    def _shift_notes(self, rows: int = 0, cols: int = 0, at_row: int = 0, at_col: int = 0) -> None:
        moved = {}
        for (r, c), text in self.notes.items():
            r2 = r + rows if rows and r >= at_row else r
            c2 = c + cols if cols and c >= at_col else c
            if (
                r2 >= 1
                and c2 >= 1
                and not (rows < 0 and r == at_row - 1)
                and not (cols < 0 and c == at_col - 1)
            ):
                moved[(r2, c2)] = text
        self.notes = moved

    def sort_by(self, col: int, descending: bool) -> None:
        """Sort the rows below the frozen ones by one column, as Google Sheets does: numbers
        before text ascending (after it descending), empty cells last either way."""
        self._shown = None
        rows, _ = self.size()
        first = self.frozen_rows
        body = list(zip(self.rows[first:rows], self.formats[first:rows]))

        def key(item):
            value = item[0][col - 1] if col <= len(item[0]) else None
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return (0, float(value), "")
            return (1, 0.0, str(value).casefold())

        filled = [
            item for item in body if (item[0][col - 1] if col <= len(item[0]) else None) not in (None, "")
        ]
        empty = [item for item in body if item not in filled]
        filled.sort(key=key, reverse=descending)
        ordered = filled + empty
        self.rows[first:rows] = [list(r) for r, _ in ordered]
        self.formats[first:rows] = [list(f) for _, f in ordered]


class Workbook:
    """The worksheets of one episode, in order; ``open`` is the one the tools act on."""

    def __init__(self, sheets: list[Grid]):
        # The start sheets are shared between episodes and copied when first opened (the only
        # way to change one), so a reset costs nothing for the sheets a task never touches.
        self.sheets = {grid.title: grid for grid in sheets}
        self._own: set[int] = set()
        self.open: Grid | None = None

    def open_sheet(self, name: str) -> Grid:
        grid = self.sheets[name]
        if id(grid) not in self._own:
            grid = self.sheets[name] = grid.copy()
            self._own.add(id(grid))
        self.open = grid
        return grid

    def grid(self) -> Grid:
        if self.open is None:
            raise ToolError("Please open a sheet before operating it")
        return self.open

    def to_openpyxl(self):
        """The workbook as an openpyxl ``Workbook`` (values, number formats, notes, merges, panes)."""
        import openpyxl
        from openpyxl.comments import Comment

        book = openpyxl.Workbook()
        book.remove(book.active)
        for grid in self.sheets.values():
            sheet = book.create_sheet(grid.title)
            for r, row in enumerate(grid.rows, 1):
                for c, value in enumerate(row, 1):
                    if value is not None:
                        cell = sheet.cell(r, c, value)
                        cell.number_format = grid.fmt(r, c)
            for (r, c), text in grid.notes.items():
                sheet.cell(r, c).comment = Comment(text, "agentgym")
            for (r1, c1), (r2, c2) in grid.merged:
                sheet.merge_cells(f"{a1(r1, c1)}:{a1(r2, c2)}")
            if grid.frozen_rows or grid.frozen_cols:
                sheet.freeze_panes = a1(grid.frozen_rows + 1, grid.frozen_cols + 1)
        return book


def load_workbook(path: str) -> list[Grid]:
    """Every worksheet of an ``.xlsx`` file as a :class:`Grid` (needs openpyxl)."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    grids = []
    for sheet in book.worksheets:
        grid = Grid(sheet.title)
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None and cell.coordinate not in sheet.merged_cells:
                    grid.set(cell.row, cell.column, cell.value)
                    grid.formats[cell.row - 1][cell.column - 1] = cell.number_format or "General"
                if cell.comment is not None:
                    grid.notes[(cell.row, cell.column)] = cell.comment.text
        for merged in sheet.merged_cells.ranges:
            grid.merged.append(((merged.min_row, merged.min_col), (merged.max_row, merged.max_col)))
            head = sheet.cell(merged.min_row, merged.min_col)
            grid.set(merged.min_row, merged.min_col, head.value)
        if sheet.freeze_panes:
            row, col = parse_a1(sheet.freeze_panes)
            grid.frozen_rows, grid.frozen_cols = row - 1, col - 1
        grids.append(grid)
    return grids


def formula_value(grid: Grid, cells: list[Cell], operator: str) -> float:
    """Google Sheets' SUM, AVERAGE, COUNT, MAX, MIN, MINUS, PRODUCT over cells (text is skipped)."""
    numbers = []
    for r, c in cells:
        value = grid.get(r, c)
        number = None if isinstance(value, bool) else to_number(value)
        if number is not None:
            numbers.append(number)
    if operator == "COUNT":
        return float(len(numbers))
    if operator == "MINUS":
        if len(cells) != 2:
            raise ToolError("MINUS takes exactly two cells: the first minus the second.")
        return (numbers[0] if len(numbers) > 0 else 0.0) - (numbers[1] if len(numbers) > 1 else 0.0)
    if not numbers:
        if operator == "AVERAGE":
            raise ToolError("AVERAGE of cells that hold no numbers is undefined (#DIV/0!).")
        return 0.0
    if operator == "SUM":
        return math.fsum(numbers)
    if operator == "AVERAGE":
        return math.fsum(numbers) / len(numbers)
    if operator == "MAX":
        return max(numbers)
    if operator == "MIN":
        return min(numbers)
    return math.prod(numbers)


def cells_of(grid: Grid, start: str | None, end: str | None, positions: list | None) -> list[Cell]:
    """The cells a formula tool names: a position list, or the range start:end (cut to the used
    range: the empty cells beyond it change no operator's result)."""
    if positions is not None:
        if not positions:
            raise ToolError("position_list is empty.")
        return [parse_a1(p) for p in positions]
    if start is None or end is None:
        raise ToolError("give either position_list, or both start_position and end_position.")
    (r1, c1), (r2, c2) = parse_a1(start), parse_a1(end)
    rows, cols = grid.size()
    return [
        (r, c)
        for r in range(min(r1, r2), min(max(r1, r2), rows) + 1)
        for c in range(min(c1, c2), min(max(c1, c2), cols) + 1)
    ]


def find_cells(grid: Grid, query: str, in_row: int | None, in_column: int | None) -> list[str]:
    """A1 positions of the cells whose shown text the pattern matches (gspread's ``findall``
    with a compiled pattern, which AgentGym always passes)."""
    pattern = parse_regex(query)
    rows, cols = grid.size()
    shown = grid.values()
    found = []
    for r in range(1, rows + 1):
        if in_row is not None and r != in_row:
            continue
        for c in range(1, cols + 1):
            if in_column is not None and c != in_column:
                continue
            text = shown[r - 1][c - 1] if r <= len(shown) and c <= len(shown[r - 1]) else ""
            if text and pattern.search(text):
                found.append(a1(r, c))
    return found


def match_score(current: list[list[str]], expected: list[list[str]]) -> float:
    """AgentGym's sheet score, the share of equal cells, taken over the larger of the two
    shapes: AgentGym counts only the rows and columns both sheets have, so a sheet that lacks a
    row it should have gained (or keeps one it should have lost) scored 1 there. Cells are equal
    as text, or as numbers when both are numbers (``68`` and ``68.00``: Google's display
    formats cannot be reproduced exactly)."""
    rows = max(len(current), len(expected))
    cols = max(max((len(r) for r in current), default=0), max((len(r) for r in expected), default=0))
    if not rows or not cols:
        return 0.0
    same = 0
    for r in range(rows):
        here = current[r] if r < len(current) else []
        there = expected[r] if r < len(expected) else []
        for c in range(cols):
            a = here[c] if c < len(here) else ""
            b = there[c] if c < len(there) else ""
            if a == b:
                same += 1
            else:
                x, y = to_number(a), to_number(b)
                same += x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
    return same / (rows * cols)
