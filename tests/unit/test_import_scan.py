"""The import's scan reads each JSON line once in Rust (strict JSON, no key twice) and leaves
only the schema to pydantic; any line it cannot read goes the standard library's strict way.
Either way a line gets exactly what the reference reader, ``parse_touchpoint``, gives it: the
same touchpoint, or the same errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.intake.importing import JSON_CHECKED, parse_touchpoint, scan, validate
from tests.support.builders import at

VALID = orjson.dumps(
    {
        "type": "candidate_registered",
        "candidate": "C-1",
        "occurred_at": at(1),
        "role": "cra",
        "status": "passive",
        "personal": {"name": "Ada Okafor", "email": "ada@example.org"},
    }
)

MUTATIONS = [
    lambda line: line,
    lambda line: line.replace(b'"role":"cra"', b'"role":"cra","role":"cra"'),
    lambda line: line.replace(b'"name":"Ada Okafor"', b'"name":"Ada","name":"Ada Okafor"'),
    lambda line: line.replace(b'"status":"passive"', b'"status":NaN'),
    lambda line: line.replace(b'"role":"cra"', b'"role":Infinity'),
    lambda line: line.replace(b"Okafor", b"Ok\\ud800afor"),
    lambda line: line.replace(b"Okafor", b"Ok\xffafor"),
    lambda line: line.replace(b"Okafor", b"Ok\tafor"),
    lambda line: line + b" x",
    lambda line: line[:-5],
    lambda line: b"  " + line + b"  ",
    lambda line: line.replace(b'"C-1"', b"1"),
    lambda line: line.replace(b'"passive"', b'"dormant"'),
    lambda line: line.replace(b'"candidate_registered"', b'"telepathy"'),
    lambda line: line.replace(b'"cra"', b'"cra","extra":{"a":1,"a":2}'),
    lambda line: b"[" + line + b"]",
]


@given(st.lists(st.sampled_from(range(len(MUTATIONS))), min_size=1, max_size=3))
def test_the_scan_and_the_reference_reader_agree(
    tmp_path_factory: pytest.TempPathFactory, picks: list[int]
) -> None:
    line = VALID
    for pick in picks:
        line = MUTATIONS[pick](line)
    path = tmp_path_factory.mktemp("scan") / "one.jsonl"
    path.write_bytes(line + b"\n")
    scanned = list(scan(path))
    assert len(scanned) == (1 if line.strip() else 0)
    if scanned:
        assert validate(scanned[0]) == parse_touchpoint(1, line + b"\n")


def test_a_valid_line_takes_the_fast_way(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_bytes(VALID + b"\n")
    (scanned,) = scan(path)
    assert scanned.kind == JSON_CHECKED and scanned.candidate == "C-1"
