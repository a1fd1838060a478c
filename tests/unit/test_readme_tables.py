"""The README's tables render as tables: a blank line inside one, or a row with a cell too many
or too few, leaves raw pipes on the page (GitHub renders Markdown as markdown-it-py does)."""

import re
from pathlib import Path

from markdown_it import MarkdownIt

README = Path(__file__).resolve().parents[2] / "README.md"
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _cells(row: str) -> int:
    """Cells of a table row in the source: pipes that are not escaped (inside code spans too,
    as in GitHub's tables), outer ones trimmed."""
    inner = row.strip().removeprefix("|").removesuffix("|")
    return len(_UNESCAPED_PIPE.split(inner))


def _rendered_tables(text: str) -> tuple[set[int], list[tuple[int, int]]]:
    """(lines inside code blocks, (first, end) line ranges of tables) of the rendered page."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    in_code: set[int] = set()
    tables: list[tuple[int, int]] = []
    for token in tokens:
        if token.map is None:
            continue
        if token.type in ("fence", "code_block", "html_block"):
            in_code.update(range(*token.map))
        elif token.type == "table_open":
            tables.append((token.map[0], token.map[1]))
    return in_code, tables


def test_every_pipe_row_of_the_readme_is_inside_a_rendered_table() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    in_code, tables = _rendered_tables("\n".join(lines))
    in_table = {line for first, end in tables for line in range(first, end)}
    stray = [
        f"line {number + 1}: {line[:60]}"
        for number, line in enumerate(lines)
        if line.lstrip().startswith("|") and number not in in_table | in_code
    ]
    assert not stray, "rows outside any table (a blank line inside a table?):\n" + "\n".join(stray)
    assert tables, "the README has no table at all"


def test_every_row_of_a_readme_table_has_its_header_s_cells() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    _, tables = _rendered_tables("\n".join(lines))
    uneven = [
        f"line {number + 1}: {_cells(lines[number])} cells, the header has {_cells(lines[first])}"
        for first, end in tables
        for number in range(first, end)
        if lines[number].strip() and _cells(lines[number]) != _cells(lines[first])
    ]
    assert not uneven, "table rows whose cells do not match their header:\n" + "\n".join(uneven)
