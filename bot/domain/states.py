"""The one state-machine engine behind events and service orders.

A noun (Event, Order) has a transition table, (from, action) → to, and labels for its states and
actions. Every transition is a compare-and-set, `UPDATE noun SET status = :to, … WHERE id = :id
AND status = :expected` with the row count checked, and writes its timeline row in the same
transaction: two people acting on the same thing at the same moment (in any number of processes)
cannot both win; the loser is told who was first and nothing of theirs is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, inspect, literal_column, select, union_all, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import MANYTOONE, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from bot.core.db import insert_ignore, upsert_for_dialect, utcnow

# Actions that mean the same for every noun; each machine adds its own labels to these.
SHARED_ACTION_LABELS = {"assign": "派单", "accept": "接单", "note": "备注"}


class IllegalTransition(ValueError):
    """The action is not allowed in the thing's current state; nothing was changed."""

    def __init__(self, message: str, *, status: str, action: str):
        super().__init__(message)
        self.status, self.action = status, action


class ChangedFirst(IllegalTransition):
    """Someone else changed the thing between our read and our write: the compare-and-set lost.
    `status` is the state the other change left it in; `expected` the one this caller saw."""

    def __init__(self, message: str, *, status: str, action: str, expected: str):
        super().__init__(message, status=status, action=action)
        self.expected = expected


@dataclass(frozen=True)
class StateMachine:
    """The transition table and labels of one noun, and the only way its status changes."""

    noun: str  # how a person names one: 事件, 服务单
    transitions: Mapping[tuple[str, str], str]
    status_labels: Mapping[str, str]
    action_labels: Mapping[str, str]
    entry: type  # the noun's timeline row class (a Timeline subclass), in the noun's `timeline` list
    # How to tell the loser of a race, by action (orders: 抢单 lost); default ChangedFirst.
    lost: Mapping[str, Callable[..., ChangedFirst]] | None = None

    def can(self, thing, action: str) -> bool:
        return (thing.status, action) in self.transitions

    def states_for(self, action: str) -> tuple[str, ...]:
        """The statuses from which `action` is allowed, in the table's order."""
        return tuple(dict.fromkeys(state for state, act in self.transitions if act == action))

    def label(self, status: str | None) -> str:
        return self.status_labels.get(status or "", status or "")

    def refusal(self, thing, action: str) -> IllegalTransition:
        message = (f"{self.noun} {thing.number} 当前状态为「{self.label(thing.status)}」，"
                   f"不能{self.action_labels.get(action, action)}")
        return IllegalTransition(message, status=thing.status, action=action)

    def _loss(self, thing, action: str, expected: str) -> ChangedFirst:
        make = (self.lost or {}).get(action)
        if make is not None:
            return make(thing, action, expected)
        message = (f"{self.noun} {thing.number} 已被他人先行处理，当前状态为「{self.label(thing.status)}」，"
                   f"不能{self.action_labels.get(action, action)}")
        return ChangedFirst(message, status=thing.status, action=action, expected=expected)

    def apply(self, session: Session, thing, action: str, *, actor: str, actor_name: str = "", note: str = "",
              values: Mapping[str, Any] | None = None, stamp: tuple[str, ...] = (),
              after: Callable[[Any], None] | None = None):
        """Apply `action` if `thing` is still in the status this object shows, set `values` (and the columns
        in `stamp` to the transition's moment) in the same UPDATE, run `after` on the updated object, and
        append the timeline row; all in the caller's transaction, so a rollback takes back the change and
        its row together."""
        expected = thing.status
        target = self.transitions.get((expected, action))
        if target is None:
            raise self.refusal(thing, action)
        now = utcnow()
        changes = {"status": target, "updated_at": now, **dict.fromkeys(stamp, now), **(values or {})}
        if inspect(thing).persistent:
            self._compare_and_set(session, thing, action, expected, changes)
        else:  # being created in this transaction: nobody else can see it yet, it is written in one INSERT
            for key, value in changes.items():
                setattr(thing, key, value)
        if after is not None:
            after(thing)
        entry = self.entry(at=now, actor=actor, actor_name=actor_name, action=action, from_status=expected,
                           to_status=target, note=note)
        thing.timeline.append(entry)  # before add: a lazy load of the list must not autoflush it in twice
        if not inspect(thing).transient:  # a transient thing is written later, whole, by insert_new
            session.add(entry)
            session.flush()
        return entry

    def _compare_and_set(self, session: Session, thing, action: str, expected: str, changes: dict) -> None:
        session.flush()  # the caller's pending changes first: the UPDATE below must not race them
        model = type(thing)
        result = session.execute(
            update(model).where(model.id == thing.id, model.status == expected).values(**changes)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            session.refresh(thing)  # show the caller what the winner left
            raise self._loss(thing, action, expected)
        # The row is written; make the object the caller holds say the same, without reloading it.
        for key, value in changes.items():
            set_committed_value(thing, key, value)

    def record_start(self, session: Session, thing, action: str, *, at, actor: str, actor_name: str = "",
                     note: str = ""):
        """The first timeline row: the thing comes into being in its initial status (no compare-and-set:
        nobody else can see it yet). Written with the thing's own flush."""
        entry = self.entry(at=at, actor=actor, actor_name=actor_name, action=action, from_status=None,
                           to_status=thing.status, note=note)
        thing.timeline.append(entry)  # before add, as in apply
        if not inspect(thing).transient:
            session.add(entry)
        return entry

    def insert_new(self, session: Session, thing, also=None, also_values: Mapping[str, Any] | None = None):
        """Write a thing built outside the session (transient) and its timeline rows so far, instead
        of the unit of work's flush (this runs for every report): on PostgreSQL one statement, the
        rows in a CTE beside the thing's INSERT; elsewhere one INSERT … RETURNING for the thing and one
        for its rows. The objects then are persistent, as if just loaded: nothing of them is left to
        write, and reading any column asks no query.

        `also` (a built-once SELECT; `also_values` its parameters) rides in the same statement on
        PostgreSQL and sees the database as it was before this insert: its rows are returned, as
        tuples. Elsewhere it is not run and None is returned: the caller asks it itself."""
        mapper = inspect(type(thing))
        sql = session.connection()
        values = _row(thing)
        riders = _riders(inspect(thing).info.pop(RIDERS, []))
        [(_, foreign_key)] = mapper.relationships["timeline"].local_remote_pairs
        entries = list(thing.timeline)
        rows = [_row(e) for e in entries]
        for row in rows:  # the thing's key, not known yet (set below)
            row.pop(foreign_key.key, None)
        entry_table = inspect(self.entry).local_table
        if entries and sql.dialect.name == "postgresql" and _whole(entry_table, foreign_key.key, rows):
            # SQLAlchemy computes Python-side defaults for the outermost INSERT only, not in a CTE
            values = _with_defaults(mapper.local_table, values)
            names, entry_names = frozenset(values), tuple(sorted(rows[0]))
            shapes = tuple((model.__table__, key, names_, len(group)) for (model, key, names_), group in riders.items())
            statement = _inserting_together(mapper.local_table, names, entry_table, foreign_key.key, entry_names,
                                            len(rows), also, shapes)
            params = {f"e_{k}": v for k, v in values.items()}
            for i, row in enumerate(rows):
                params.update({f"t{i}_{k}": v for k, v in row.items()})
            for g, group in enumerate(riders.values()):
                for i, rider in enumerate(group):
                    params.update({f"r{g}_{i}_{k}": v for k, v in rider.items()})
            params.update(also_values or {})
            back = sql.execute(statement, params).one()
            _written(thing, values, back)
            for entry, row, entry_id in zip(entries, rows, back.timeline_ids, strict=True):  # ids in row order
                _written(entry, {**row, foreign_key.key: thing.id}, {"id": entry_id})
            found = [tuple(r) for r in back.also or ()] if also is not None else None
        else:
            _written(thing, values, sql.execute(_inserting(mapper.local_table, frozenset(values)), values).one())
            if entries:
                rows = [{**r, foreign_key.key: thing.id} for r in rows]
                returned = sql.execute(_inserting(entry_table, frozenset(rows[0])), rows).all()
                for entry, row, back in zip(entries, rows, returned, strict=True):  # in parameter order
                    _written(entry, row, back)
            for (model, key, _), group in riders.items():
                for rider in group:
                    insert_ignore(session, model, **rider, **{key: thing.id})
            found = None
        for entry in entries:
            make_transient_to_detached(entry)
        if entries:
            set_committed_value(thing, "timeline", sorted(entries, key=lambda e: e.id))
        make_transient_to_detached(thing)
        session.add(thing)  # detached → persistent; its entries follow by cascade, with nothing to write
        return found


def _with_defaults(table, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the Python-side defaults (a constant, or a function of nothing) of the columns
    they leave out; the database's own defaults stay the database's."""
    filled = dict(values)
    for column in table.c:
        default = column.default
        if column.key in filled or column.primary_key or default is None:
            continue
        if default.is_scalar:
            filled[column.key] = default.arg
        elif default.is_callable:
            filled[column.key] = default.arg(None)  # SQLAlchemy's wrapper of a no-argument function
    return filled


def _whole(entry_table, foreign_key: str, rows: list[dict[str, Any]]) -> bool:
    """Every row names every column but its key and the thing's: only the ids are left to return."""
    needed = {c.key for c in entry_table.c if not c.primary_key} - {foreign_key}
    return all(row.keys() == needed for row in rows)


@cache
def _inserting(table, names: frozenset[str]):
    """INSERT … RETURNING what the database decides (the key, the defaults of columns not named in
    `names`), the values as parameters: built once per table and set of columns. Returning every
    column cost a third of the insert: each one is described, converted and set on the object."""
    returned = [c for c in table.c if c.primary_key or c.key not in names]
    return table.insert().returning(*returned, sort_by_parameter_order=True)


RIDERS = "riders"  # InstanceState.info key: rows written with a new thing (ride_along)


def ride_along(thing, model, foreign_key: str, values: dict[str, Any]) -> None:
    """A row of `model` that points at the transient `thing` by `foreign_key`, written by the
    thing's `insert_new`: in its one statement on PostgreSQL, else right after it; ON CONFLICT DO
    NOTHING (a unique key already taken keeps the row that has it). A push about a new event rides
    with the event: one statement fewer for every report."""
    inspect(thing).info.setdefault(RIDERS, []).append((model, foreign_key, values))


def _riders(riders: list) -> dict[tuple, list[dict[str, Any]]]:
    """The rows riding along, grouped by (model, foreign key, columns), in the order they came."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for model, foreign_key, given in riders:
        values = _with_defaults(model.__table__, given)
        groups.setdefault((model, foreign_key, tuple(sorted(values))), []).append(values)
    return groups


@cache
def _inserting_together(table, names: frozenset[str], entry_table, foreign_key: str, entry_names: tuple[str, ...],
                        count: int, also, riders: tuple = ()):
    """PostgreSQL: the thing's INSERT and its `count` timeline rows' INSERT in one statement
    (WITH thing AS (INSERT … RETURNING), rows AS (INSERT … SELECT thing.id, … UNION ALL … ORDER BY
    the row's place RETURNING id)); the rows' ids come back as one array in that order
    (ids of one INSERT … SELECT are drawn in the order the SELECT yields its rows, which SQLAlchemy's
    own ordered inserts rely on too). Built once per shape; parameters e_<column>, t<i>_<column>."""
    returned = [c for c in table.c if c.primary_key or c.key not in names]
    thing = (table.insert().values({k: bindparam(f"e_{k}", type_=table.c[k].type) for k in sorted(names)})
             .returning(*returned).cte("thing"))
    given = _per_row(thing.c.id.label("id"), entry_table, entry_names, count, "t", placed=True).subquery("given")
    rows = (entry_table.insert()
            .from_select([foreign_key, *entry_names],
                         select(given.c.id, *(given.c[k] for k in entry_names)).order_by(given.c.place),
                         include_defaults=False)
            .returning(entry_table.c.id).cte("rows"))
    ids = select(func.array_agg(aggregate_order_by(rows.c.id, rows.c.id))).scalar_subquery().label("timeline_ids")
    extra = []
    if also is not None:
        found = also.subquery("also")
        extra.append(select(func.json_agg(func.json_build_array(*found.c))).scalar_subquery().label("also"))
    statement = select(*(thing.c[c.key] for c in returned), ids, *extra)
    for g, (rider_table, key, rider_names, rider_count) in enumerate(riders):  # parameters r<g>_<i>_<column>
        source = _per_row(thing.c.id.label(key), rider_table, rider_names, rider_count, f"r{g}_")
        statement = statement.add_cte(
            upsert_for_dialect("postgresql")(rider_table)
            .from_select([key, *rider_names], source, include_defaults=False).on_conflict_do_nothing()
            .cte(f"rider{g}"))
    return statement


def _per_row(thing_id, table, names: tuple[str, ...], count: int, prefix: str, placed: bool = False):
    """`count` rows of `table`'s columns `names` as bound parameters <prefix><i>_<column>, each
    beside the new thing's id: one SELECT per row in a UNION ALL, not VALUES (a statement with VALUES
    data is compiled again on every call). `placed`: also each row's place in that order."""
    return union_all(*(select(thing_id, *([literal_column(str(i)).label("place")] if placed else []),
                              *(bindparam(f"{prefix}{i}_{k}", type_=table.c[k].type).label(k) for k in names))
                       for i in range(count)))


def _written(target, values: dict[str, Any], row) -> None:
    """The committed state of an object just inserted with `values`: the columns it was given stay
    as they are (as after a flush); the returned ones, and the foreign keys `_row` took from its
    relationships, are set. Every column then is loaded: none is expired into a query."""
    given = inspect(target).dict
    returned = row if isinstance(row, Mapping) else row._mapping
    for attribute, column in _shape(type(target))[0]:
        if column not in values:
            set_committed_value(target, attribute, returned[column])
        elif attribute not in given:
            set_committed_value(target, attribute, values[column])


def _row(thing) -> dict[str, Any]:
    """The column values of a transient object, with its many-to-one relationships' keys: what a
    flush would INSERT (columns never set get their Core defaults)."""
    columns, to_one = _shape(type(thing))
    given = inspect(thing).dict
    values = {column: given[attribute] for attribute, column in columns if attribute in given}
    for relationship, pairs in to_one:
        if relationship in given:
            related = given[relationship]
            for local, remote in pairs:
                values[local] = None if related is None else getattr(related, remote)
    return values


@cache
def _shape(model) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, tuple[tuple[str, str], ...]], ...]]:
    """(attribute, column) of each column, and (relationship, ((local, remote) keys)) of each
    many-to-one: read off the mapper once per class (this runs for every row a report writes)."""
    mapper = inspect(model)
    columns = tuple((prop.key, prop.columns[0].key) for prop in mapper.column_attrs)
    to_one = tuple((rel.key, tuple((local.key, remote.key) for local, remote in rel.local_remote_pairs))
                   for rel in mapper.relationships if rel.direction is MANYTOONE)
    return columns, to_one
