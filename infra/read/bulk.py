"""Rebuilding views in bulk: every event read once, each view computed whole, swapped in at once.

The fold (``infra.read.engine``) is right for live updates: a few facts, exactly once, each
batch in one transaction with its position. Rebuilding millions of events through it costs a
Python call per fact and an upsert per row. A bulk rebuild instead:

1. reads the ledger up to its last position, chunk by chunk, into a columnar table of facts
   (DuckDB, in a temporary file, so memory stays bounded whatever the ledger's size);
2. computes each view's rows: set-based SQL where the view has a set-based form
   (``infra.read.set_based``, ``infra.read.set_based_alerts``), otherwise the projection's own
   fold, run in memory over the facts in ledger order; the statements are computed on a thread
   ahead of the writing (``StatementsAhead``), so DuckDB works while the rows of the last one are
   written;
3. writes them into staged tables beside the live ones, and swaps them in with the position they
   reflect in one transaction (``ViewStore.swap``): readers see the old views or the new ones,
   and a crash at any point before the commit leaves the old ones, with their position.

No per-candidate state is written: the fold replays a candidate's events when it needs their
state (from the ledger, or from a consumer group's timeline), so live updates continue from a
bulk-built view as from a folded one.

Where the facts come from is a ``FactSource``: the ledger (``LedgerFacts``, for ``rapport
rebuild`` and views that start from nothing beside it), or a Kafka topic read to its end
(``consumers.first_catch_up``, for a consumer group's first catch-up).
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import duckdb
import orjson
import pyarrow as pa
import structlog

from infra.core.locks import ProcessLocks
from infra.read.set_based import (
    COLUMN_OF,
    EXACT_DATA,
    FACTS,
    LOAD_FOLDED_FACTS,
    SET_BASED,
    load_facts,
    sql_list,
)
from infra.read.set_based_alerts import ALERT_ENTRIES, AlertStatements
from infra.read.stored_facts import position_fact
from infra.read.views import ViewStore, last_versions
from infra.store.recorder import LedgerRecorder
from projections.alerts import AlertsProjection
from projections.base import CANDIDATES, POSITION, Fact, Projection, State, Table, Upsert

log = structlog.get_logger("rapport.bulk")

CHUNK = 100_000
"""Events read from the ledger and parsed per step."""
_FETCH = 50_000
MEMORY_LIMIT_MB = 512
"""What DuckDB may hold before it spills to its temporary file."""


class RebuildBusy(RuntimeError):
    """Another process is rebuilding these views and did not finish in time."""


class FactSource(Protocol):
    """Where a bulk build reads its facts, and what it records with the views it swaps in."""

    exact_data: bool
    """Whether the ``data`` column holds each fact's data exactly as the fold serialises it
    (then a view that copies it, the timeline, is set-based too)."""

    def start(self) -> None:
        """Fix what the build will cover (the last position, the end offsets)."""

    def loading(self, *, with_data: bool) -> str:
        """The statement that inserts a chunk (the Arrow table ``chunk``) into ``facts``."""

    def chunks(self) -> Iterator[pa.Table]:
        """The facts up to what ``start`` fixed, in chunks (read on a thread of its own)."""

    def position(self) -> int:
        """The position the built views reflect (once ``chunks`` is exhausted)."""

    def record(self, cur: Any) -> None:
        """Anything to write with the views in the swap's transaction (raising aborts it)."""

    def positions(self) -> Sequence[Fact]:
        """The positions' facts among those read, in ledger order (once ``chunks`` is
        exhausted); none from a source that carries only touchpoints."""


class LedgerFacts:
    """Every event recorded so far, read from the ledger ``chunk`` events at a time."""

    exact_data = False

    def __init__(self, recorder: LedgerRecorder, *, chunk: int = CHUNK) -> None:
        self.recorder = recorder
        self.chunk = chunk
        self.until = 0
        self._positions: list[Fact] = []

    def start(self) -> None:
        self.until = self.recorder.max_notification_id() or 0
        self._positions = []

    def loading(self, *, with_data: bool) -> str:
        return load_facts(with_data=with_data)

    def chunks(self) -> Iterator[pa.Table]:
        start = 1
        while start <= self.until:
            rows = self.recorder.read_raw(start, self.chunk, self.until)
            if not rows:
                return
            # A position's events are few: kept aside here, for the views that fold them.
            self._positions += filter(None, (position_fact(*row) for row in rows))
            yield _arrow_chunk(rows)
            start = rows[-1][0] + 1

    def position(self) -> int:
        return self.until

    def record(self, cur: Any) -> None:
        pass

    def positions(self) -> Sequence[Fact]:
        return self._positions


class DecodedFacts:
    """Facts already decoded in Python (a consumer group's, read from its topic), gathered in
    columns for ``LOAD_FOLDED_FACTS``: their data serialised as the timeline's fold writes it,
    so the timeline can be built set-based from them (``exact_data``)."""

    LOADING = LOAD_FOLDED_FACTS
    """The statement that puts a chunk of them into ``facts``."""

    def __init__(self) -> None:
        self._columns: tuple[list[Any], ...] = ([], [], [], [], [], [])

    def __len__(self) -> int:
        return len(self._columns[0])

    def add(self, fact: Fact) -> None:
        values = (
            fact.position,
            fact.candidate_id,
            fact.version,
            fact.occurred_at,
            fact.recorded_at,
            orjson.dumps(fact.data).decode(),
        )
        for column, value in zip(self._columns, values, strict=True):
            column.append(value)

    def take(self) -> pa.Table:
        """The facts added so far, as one chunk; the next chunk starts empty."""
        positions, candidates, versions, happened, recorded, data = self._columns
        self._columns = ([], [], [], [], [], [])
        return pa.table(
            {
                "position": pa.array(positions, pa.int64()),
                "candidate_id": pa.array(candidates, pa.string()),
                "version": pa.array(versions, pa.int64()),
                "happened": pa.array(happened, pa.float64()),
                "recorded_at": pa.array(recorded, pa.float64()),
                "data": pa.array(data, pa.string()),
            }
        )


def set_based_form(projection: Projection, source: FactSource) -> dict[str, str] | None:
    """Each table's statement, if the projection has a set-based form over this source."""
    key = (projection.name, projection.version)
    return SET_BASED.get(key) or (EXACT_DATA.get(key) if source.exact_data else None)


_STORED_ROW = pa.struct(
    [
        ("position", pa.int64()),
        ("candidate_id", pa.string()),
        ("version", pa.int64()),
        ("state", pa.binary()),
    ]
)


def _arrow_chunk(rows: Sequence[Any]) -> pa.Table:
    """Stored rows (position, candidate_id, version, state) as columns, converted in one pass
    in C (half the time of transposing them in Python first)."""
    return pa.Table.from_struct_array(pa.array(rows, type=_STORED_ROW))


def _fetched(cursor: duckdb.DuckDBPyConnection) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(_FETCH):
        yield from batch


class StatementsAhead:
    """The build's statements, computed in order on a thread of their own while the rows of
    earlier ones are written: DuckDB releases the interpreter while it computes, and handing
    rows to the store needs it. Each statement runs on a cursor of its own; at most ``AHEAD``
    finished results wait to be written, so they must be read in the order they were planned
    (reading one out of turn raises instead of waiting forever)."""

    AHEAD = 2

    def __init__(self, db: duckdb.DuckDBPyConnection) -> None:
        self.db = db
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="rebuild-sql")
        self.room = threading.BoundedSemaphore(self.AHEAD)
        self.stopping = threading.Event()
        self.planned: deque[tuple[str, Future[duckdb.DuckDBPyConnection | None]]] = deque()

    def plan(self, statements: Iterable[str]) -> None:
        for statement in statements:
            self.planned.append((statement, self.pool.submit(self._compute, statement)))

    def _compute(self, statement: str) -> duckdb.DuckDBPyConnection | None:
        while not self.room.acquire(timeout=0.1):
            if self.stopping.is_set():
                return None
        cursor = self.db.cursor()
        try:
            cursor.execute(statement)
        except BaseException:
            cursor.close()
            self.room.release()
            raise
        return cursor

    def rows(self, statement: str) -> Iterator[tuple[Any, ...]]:
        """The statement's rows: the next planned one's, or computed here if not planned."""
        if not self.planned or self.planned[0][0] != statement:
            if any(planned == statement for planned, _ in self.planned):
                raise RuntimeError("planned statements are read in the order they were planned")
            yield from _fetched(self.db.execute(statement))
            return
        cursor = self.planned.popleft()[1].result()
        if cursor is None:
            return
        try:
            yield from _fetched(cursor)
        finally:
            cursor.close()
            self.room.release()

    def run(self, statement: str) -> None:
        for _ in self.rows(statement):
            pass

    def close(self) -> None:
        self.stopping.set()
        for _, planned in self.planned:
            planned.cancel()
        self.pool.shutdown(wait=True)
        for _, planned in self.planned:
            finished = planned.done() and not planned.cancelled() and not planned.exception()
            if finished and (cursor := planned.result()) is not None:
                cursor.close()


class BulkRebuild:
    """Builds views in bulk from a source of facts, into a ``ViewStore``, one rebuild at a
    time."""

    def __init__(self, source: FactSource, store: ViewStore) -> None:
        self.source = source
        self.store = store
        self.seconds: dict[str, float] = {}
        """Seconds spent per phase of the last rebuild (load, each projection, swap)."""

    def run(
        self,
        projections: Sequence[Projection],
        *,
        still_needed: Callable[[], Sequence[Projection]] | None = None,
        on_progress: Callable[[int], None] | None = None,
        wait_seconds: float = 3_600,
    ) -> int:
        """Rebuild ``projections`` from every fact of the source; returns the facts read.

        Another process may be rebuilding the same views: this waits for it, then asks
        ``still_needed()`` which views are left to build (none, usually)."""
        with self._exclusive(wait_seconds) as waited:
            if waited and still_needed is not None:
                projections = still_needed()
            if not projections:
                return 0
            return self._build(projections, on_progress)

    def _exclusive(self, wait_seconds: float) -> _Exclusive:
        where = self.store.schema or str(self.store.path)
        # On PostgreSQL the lock's name is the server's: it names the views' schema.
        name = f"views-rebuild-{self.store.schema}" if self.store.schema else "views-rebuild"
        return _Exclusive(
            ProcessLocks(self.store.settings, name, self.store.path), where, wait_seconds
        )

    def _build(
        self, projections: Sequence[Projection], on_progress: Callable[[int], None] | None
    ) -> int:
        source = self.source
        source.start()
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="rapport-rebuild-") as folder:
            db = duckdb.connect(str(Path(folder) / "facts.duckdb"))
            try:
                db.execute("SET TimeZone = 'UTC'")
                db.execute(f"SET memory_limit = '{MEMORY_LIMIT_MB}MB'")
                db.execute(f"SET temp_directory = '{folder}'")
                db.execute(FACTS)
                with_data = any(not (set_based_form(p, source) or _reads(p)) for p in projections)
                events = self._load(db, source.loading(with_data=with_data), on_progress)
                seconds = {"load": time.perf_counter() - started}
                ahead = StatementsAhead(db)
                alerts: dict[str, AlertStatements] = {}
                try:
                    for projection in projections:
                        if statements := set_based_form(projection, source):
                            ahead.plan(statements[t.name] for t in projection.tables)
                        elif isinstance(projection, AlertsProjection):
                            alerts[projection.name] = AlertStatements.of(projection)
                            ahead.plan(alerts[projection.name].in_order())
                    for projection in projections:
                        began = time.perf_counter()
                        self.store.stage(projection)
                        if statements := set_based_form(projection, source):
                            self._select(ahead, projection, statements)
                        elif isinstance(projection, AlertsProjection):
                            self._alerts(ahead, projection, alerts[projection.name])
                        else:
                            self._fold(db, projection, source)
                        self.store.index_staged(projection)
                        seconds[projection.name] = time.perf_counter() - began
                finally:
                    ahead.close()
            finally:
                db.close()
        began = time.perf_counter()
        until = source.position()
        self.store.swap(projections, until, also=source.record)
        seconds["swap"] = time.perf_counter() - began
        self.seconds = {phase: round(spent, 3) for phase, spent in seconds.items()}
        log.info(
            "views.rebuilt_in_bulk",
            events=events,
            position=until,
            seconds=round(time.perf_counter() - started, 3),
            phases=self.seconds,
        )
        return events

    def _load(
        self,
        db: duckdb.DuckDBPyConnection,
        loading: str,
        on_progress: Callable[[int], None] | None,
    ) -> int:
        """The source's facts into ``facts``: a thread reads the next chunk while DuckDB
        parses this one (both release the interpreter meanwhile)."""
        chunks: queue.Queue[pa.Table | BaseException | None] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def hand_over(item: pa.Table | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    chunks.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for chunk in self.source.chunks():
                    if not hand_over(chunk):
                        return
                hand_over(None)
            except BaseException as failure:  # raised again by the loading thread
                hand_over(failure)

        reader = threading.Thread(target=read, name="rebuild-reader", daemon=True)
        reader.start()
        events = 0
        try:
            while (chunk := chunks.get()) is not None:
                if isinstance(chunk, BaseException):
                    raise chunk
                db.register("chunk", chunk)
                db.execute(loading)
                db.unregister("chunk")
                events += chunk.num_rows
                if on_progress:
                    on_progress(chunk.num_rows)
        finally:
            stop.set()
            reader.join()
        return events

    def _select(
        self, ahead: StatementsAhead, projection: Projection, statements: dict[str, str]
    ) -> None:
        for table in projection.tables:
            self.store.fill(table, ahead.rows(statements[table.name]))

    def _alerts(
        self, ahead: StatementsAhead, projection: AlertsProjection, asked: AlertStatements
    ) -> None:
        """The registrations' table and the episodes of candidates whose facts arrived in the
        order they happened in SQL (``infra.read.set_based_alerts``); the few others' episodes
        folded, a candidate at a time, over what the rules remember of their facts."""
        tables = {table.name: table for table in projection.tables}
        for name, statement in asked.registrations.items():
            self.store.fill(tables[name], ahead.rows(statement))
        (episodes,) = (t for t in projection.tables if t.name not in asked.registrations)
        ahead.run(ALERT_ENTRIES)
        if asked.episodes is not None:
            self.store.fill(episodes, ahead.rows(asked.episodes))
        rows: list[tuple[Any, ...]] = []
        for cid, *columns in ahead.rows(asked.histories):
            rows += projection.episode_rows(cid, list(map(list, zip(*columns, strict=True))))
        self.store.fill(episodes, rows)

    def _fold(
        self, db: duckdb.DuckDBPyConnection, projection: Projection, source: FactSource
    ) -> None:
        """The projection's own fold, one candidate at a time (their facts in ledger order,
        from an empty state, through ``apply_all`` when the projection has it): memory holds
        one candidate's state, and only each row's last version is written. A projection that
        names the ``types`` it uses is given only those; one that folds positions' facts too
        (``streams``) is given each position's after the candidates'."""
        tables = {table.name: table for table in projection.tables}
        apply_all = getattr(projection, "apply_all", None) or _one_by_one(projection)
        out: list[Upsert] = []
        reads: tuple[str, ...] | None = getattr(projection, "reads", None)
        fields = ", ".join(COLUMN_OF[name] for name in reads) if reads else "data"
        types: frozenset[str] | None = getattr(projection, "types", None)
        where = f" WHERE type IN ({sql_list(types)})" if types is not None else ""
        cursor = db.execute(
            f"SELECT position, candidate_id, version, type, happened, recorded_at, {fields}"
            f" FROM facts{where} ORDER BY candidate_id, position"
        )
        facts: list[Fact] = []
        for row in _fetched(cursor):
            cid = row[1]
            if facts and facts[0].candidate_id != cid:
                apply_all({}, facts, out)  # a whole candidate: their rows are final
                if len(out) >= _FETCH:
                    self._fill_last_versions(out, tables)
                facts = []
            data = dict(zip(reads, row[6:], strict=True)) if reads else orjson.loads(row[6])
            facts.append(Fact(row[0], cid, row[2], row[3], row[4], row[5], data))
        if facts:
            apply_all({}, facts, out)
        if POSITION in getattr(projection, "streams", CANDIDATES):
            by_position: dict[str, list[Fact]] = {}
            for fact in source.positions():
                by_position.setdefault(fact.candidate_id, []).append(fact)
            for history in by_position.values():
                apply_all({}, history, out)
        self._fill_last_versions(out, tables)

    def _fill_last_versions(self, out: list[Upsert], tables: dict[str, Table]) -> None:
        """Whole candidates' rows, each in its last version, into the staged tables; ``out``
        is emptied."""
        for name, values in last_versions(out, tables.values()).items():
            self.store.fill(tables[name], values)
        out.clear()


def _reads(projection: Projection) -> tuple[str, ...] | None:
    """The fields a projection folded in bulk reads (None: all of them, so ``data`` too)."""
    return getattr(projection, "reads", None)


def _one_by_one(
    projection: Projection,
) -> Callable[[State, Sequence[Fact], list[Upsert]], None]:
    def apply_all(state: State, facts: Sequence[Fact], out: list[Upsert]) -> None:
        for fact in facts:
            projection.apply(state, fact, out)

    return apply_all


_IN_PROCESS: dict[str, threading.Lock] = {}
_IN_PROCESS_GUARD = threading.Lock()


class _Exclusive:
    """One bulk rebuild of a set of views at a time: a lock that dies with its process, and
    one between the threads of a process (a lock file's byte range is the whole process's)."""

    def __init__(self, locks: ProcessLocks, where: str, wait_seconds: float) -> None:
        self.locks = locks
        self.where = where
        self.wait_seconds = wait_seconds
        with _IN_PROCESS_GUARD:
            self.local = _IN_PROCESS.setdefault(where, threading.Lock())

    def __enter__(self) -> bool:
        """Whether another rebuild had to be waited for."""
        deadline = time.monotonic() + self.wait_seconds
        waited = not self.local.acquire(blocking=False)
        if waited and not self.local.acquire(timeout=self.wait_seconds):
            self._busy()
        while not self.locks.try_lock([0]):
            if time.monotonic() > deadline:
                self.local.release()
                self._busy()
            waited = True
            time.sleep(0.1)
        return waited

    def _busy(self) -> None:
        self.locks.close()
        raise RebuildBusy(f"another rebuild of the views in {self.where} is still running")

    def __exit__(self, *_exc: object) -> None:
        self.locks.unlock()
        self.locks.close()
        self.local.release()
