"""Reading an import file: JSON Lines, or CSV for the flat subset, validated line by line.

Everything is validated before anything is written, and every problem is reported with the
line number and the field, so a recruiter can fix the export and run the import again. JSON is
read strictly, as the published schema says (the same reader serves ``record``, the write API
and the inbound topic); CSV cells are text, so there a ``5`` or a ``true`` is read from it.
"""

from __future__ import annotations

import csv
import json
import types
import typing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jiter
import orjson
from pydantic import ValidationError

from domain.lines import LINE, LINE_CATALOGUE
from domain.position_facts import POSITION_CATALOGUE, PositionFact
from domain.touchpoints import Touchpoint, readable_errors

Format = Literal["auto", "jsonl", "csv"]
CSV_LIST_SEPARATOR = ";"


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


def detect_format(path: Path, fmt: Format = "auto") -> Literal["jsonl", "csv"]:
    if fmt != "auto":
        return fmt
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


BOM = b"\xef\xbb\xbf"
"""A UTF-8 byte-order mark: some Windows tools start every file with one. Accepted at the start
of a file, a standard input or a request body, and nowhere else."""


class JsonObject(dict[str, Any]):
    """A JSON object that was given a key more than once (JSON parsers keep the last silently;
    a touchpoint that says two things is refused). Objects without are plain dicts."""

    repeated: tuple[str, ...] = ()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def json_problem(raw: bytes) -> str | None:
    """What makes ``raw`` not strict JSON, said the same way wherever a line is read (an import
    file, ``rapport record``'s standard input): ``Invalid JSON: <why> at column N``; None when
    it is strict JSON."""
    try:
        load_json(raw.rstrip(b"\r\n"))  # the column within the line, whatever its end
    except UnicodeDecodeError:
        return "Invalid JSON: not UTF-8 text"
    except json.JSONDecodeError as bad:
        return f"Invalid JSON: {bad.msg} at column {bad.colno}"
    except ValueError as bad:  # NaN, Infinity
        return f"Invalid JSON: {bad}"
    return None


def load_json(raw: bytes) -> Any:
    """Strict JSON: ``NaN`` and ``Infinity`` refused, repeated keys remembered (``repeated``)."""
    return _load(raw)[0]


def _load(raw: bytes) -> tuple[Any, bool]:
    """The value, and whether any object in it repeats a key (then ``repeated_keys`` says
    where; a bulk import needs to walk nothing when no object does)."""
    repeats = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeats
        found = dict(pairs)
        if len(found) == len(pairs):
            return found
        repeats = True
        marked = JsonObject(found)
        counts = Counter(key for key, _ in pairs)
        marked.repeated = tuple(key for key, count in counts.items() if count > 1)
        return marked

    value = json.loads(raw, object_pairs_hook=pairs_hook, parse_constant=_no_constant)
    return value, repeats


def repeated_keys(value: Any, path: str = "") -> list[str]:
    """Where a parsed JSON value was given a key twice, as field paths (``personal.name``)."""
    found: list[str] = []
    if isinstance(value, dict):
        found += [f"{path}{key}" for key in getattr(value, "repeated", ())]
        for key, item in value.items():
            found += repeated_keys(item, f"{path}{key}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += repeated_keys(item, f"{path}{index}.")
    return found


Parsed = Touchpoint | PositionFact
"""A valid line: a touchpoint, or a position's fact."""


def parse_touchpoint(number: int, raw: bytes) -> Parsed | list[LineError]:
    """One line from its JSON, validated strictly as the published schema says: no key
    twice, no ``"yes"`` for ``true``, no ``"5"`` for ``5``."""
    try:
        value, repeats = _load(raw)
    except (ValueError, UnicodeDecodeError):
        return [LineError(number, "(line)", json_problem(raw) or "Invalid JSON")]
    repeated = repeated_keys(value) if repeats else []
    if repeated:
        return [LineError(number, key, "given more than once") for key in repeated]
    try:
        return LINE.validate_json(raw, strict=True)
    except ValidationError as invalid:
        return line_errors(number, invalid)


def parse_item(number: int, item: Any) -> Parsed | list[LineError]:
    """One line from JSON already parsed by ``load_json`` (an item of an array)."""
    repeated = repeated_keys(item)
    if repeated:
        return [LineError(number, key, "given more than once") for key in repeated]
    try:
        return LINE.validate_json(orjson.dumps(item), strict=True)
    except ValidationError as invalid:
        return line_errors(number, invalid)


JSON_CHECKED, JSON_UNCHECKED, CSV_RECORD, PROBLEM = range(4)
"""How a scanned line's payload is validated: a JSON line already found strict (valid, no key
twice), any other JSON line, a CSV row as a JSON record, or a problem found while reading."""


class Scanned(NamedTuple):
    """A line read but not validated yet, and the candidate it names (to group it by)."""

    line: int
    kind: int
    payload: bytes
    candidate: str | None
    of_position: bool = False
    """A position's fact (by its ``type``): decided apart from the candidates' lines."""


def scan(path: Path, fmt: Format = "auto") -> Iterator[Scanned]:
    """Every line of the file, in order; each is validated once, later, by ``validate``."""
    return _scan_jsonl(path) if detect_format(path, fmt) == "jsonl" else _scan_csv(path)


def validate(scanned: Scanned) -> Parsed | list[LineError]:
    number, kind, payload = scanned[:3]
    if kind == JSON_CHECKED:  # strict JSON with no key twice: what is left is the schema
        try:
            return LINE.validate_json(payload, strict=True)
        except ValidationError as invalid:
            return line_errors(number, invalid)
    if kind == JSON_UNCHECKED:
        return parse_touchpoint(number, payload)
    if kind == CSV_RECORD:
        try:
            return LINE.validate_python(orjson.loads(payload))
        except ValidationError as invalid:
            return line_errors(number, invalid)
    field, message = orjson.loads(payload)
    return [LineError(number, field, message)]


def read_touchpoints(
    path: Path, fmt: Format = "auto"
) -> tuple[list[tuple[int, Parsed]], list[LineError]]:
    """Every valid line with its line number, and every error found (in memory: a large file
    is imported by ``infra.intake.file_import`` instead)."""
    lines: list[tuple[int, Parsed]] = []
    errors: list[LineError] = []
    for scanned in scan(path, fmt):
        parsed = validate(scanned)
        if isinstance(parsed, list):
            errors += parsed
        else:
            lines.append((scanned.line, parsed))
    return lines, errors


def _scan_jsonl(path: Path) -> Iterator[Scanned]:
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if number == 1:
                raw = raw.removeprefix(BOM)
            if not raw.strip():
                continue
            try:  # one pass in Rust finds what the strict reader would refuse
                value = jiter.from_json(raw, allow_inf_nan=False, catch_duplicate_keys=True)
                kind = JSON_CHECKED
            except ValueError:
                kind = JSON_UNCHECKED
                try:
                    value = load_json(raw)
                except (ValueError, UnicodeDecodeError):
                    value = None
            yield Scanned(number, kind, raw, _reference(value), _of_position(value))


def _reference(value: Any) -> str | None:
    reference = value.get("candidate") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) else None


def _of_position(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in POSITION_CATALOGUE


def _scan_csv(path: Path) -> Iterator[Scanned]:
    try:
        yield from _csv_rows(path)
    except UnicodeDecodeError as undecodable:
        line = path.read_bytes()[: undecodable.start].count(b"\n") + 1
        yield _problem(line, "(line)", "not UTF-8 text")
    except csv.Error as malformed:
        yield _problem(0, "(file)", f"malformed CSV: {malformed}")


def _problem(line: int, field: str, message: str) -> Scanned:
    return Scanned(line, PROBLEM, orjson.dumps([field, message]), None)


def _csv_rows(path: Path) -> Iterator[Scanned]:
    with path.open(newline="", encoding="utf-8-sig") as file:
        rows = csv.DictReader(file)
        for row in rows:
            number = rows.line_num
            try:
                record = _nest(row)
            except ValueError as bad:
                yield _problem(number, "(row)", str(bad))
                continue
            yield Scanned(
                number, CSV_RECORD, orjson.dumps(record), _reference(record), _of_position(record)
            )


def _nest(row: dict[str | None, Any]) -> dict[str, Any]:
    """A flat CSV row as a touchpoint: ``personal.email`` nests, list fields split on ';'."""
    if None in row:
        raise ValueError("more cells than columns in the header")
    record: dict[str, Any] = {}
    list_fields = _list_fields(row.get("type") or "")
    for column, cell in row.items():
        if column is None or cell is None or cell == "":
            continue
        value: Any = cell
        if column in list_fields:
            value = [item.strip() for item in cell.split(CSV_LIST_SEPARATOR) if item.strip()]
        elif cell in ("true", "false") and column == "automated":
            value = cell == "true"
        target = record
        *parents, leaf = column.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return record


def _list_fields(kind: str) -> set[str]:
    model = LINE_CATALOGUE.get(kind)
    if model is None:
        return set()
    return {name for name, info in model.model_fields.items() if _is_list(info.annotation)}


def _is_list(annotation: Any) -> bool:
    """A list, or a list or nothing (an update's list field)."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is list:
        return True
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and any(
        _is_list(arg) for arg in typing.get_args(annotation)
    )


def line_errors(number: int, invalid: ValidationError) -> list[LineError]:
    """A line's validation errors, each naming the field as the import format spells it (see
    ``domain.touchpoints.readable_errors``: no union members, no pydantic prefixes)."""
    tags = {
        tuple(error["loc"]): error["type"]
        for error in invalid.errors(include_url=False, include_input=False)
    }
    errors = []
    for location, message in readable_errors(invalid):
        kind = tags.get(location)
        if location and location[0] in LINE_CATALOGUE:
            location = location[1:]  # the discriminator's tag, not a field
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            field = "type"
        elif kind == "json_invalid":
            field = "(line)"
        else:
            field = ".".join(str(part) for part in location) or "(line)"
        errors.append(LineError(number, field, message))
    return errors
