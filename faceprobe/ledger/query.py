"""Reading the results store: runs by filter, one run in full, the figures as a tidy table, the
leaderboard, and tags and notes added afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import FaceprobeError, OptionError
from .db import connect
from .options import tag_refusal

__all__ = ["RunFilter", "FIGURE_ROW_COLUMNS", "list_runs", "get_run", "figure_rows", "leaderboard", "tag_run", "note_run", "resolve_run"]

_RUN_COLUMNS = ("id", "uid", "created", "kind", "corpus", "protocol", "official", "grouped", "metric", "keys", "heads",
                "seconds", "faceprobe", "note")


KINDS = ("classify", "fit", "featurize")
"""The kinds of recorded runs."""


@dataclass(frozen=True)
class RunFilter:
    """Which runs: every field given must match (``key`` and ``head`` as one of the run's; ``since``
    and ``until`` as ISO dates, ``2026-12-01``; ``tag`` as one of its tags)."""

    corpus: str | None = None
    key: str | None = None
    head: str | None = None
    protocol: str | None = None
    kind: str | None = None
    tag: str | None = None
    since: str | None = None
    until: str | None = None

    def __post_init__(self):
        if self.kind is not None and self.kind not in KINDS:
            raise OptionError("kind", self.kind, f"runs are of kind {', '.join(KINDS)}")
        if self.since is not None and self.until is not None and _date(self.until, "until") <= _date(self.since, "since"):
            raise OptionError("until", self.until, f"is not after `since={self.since}`: no run can match")

    def where(self) -> tuple[str, list]:
        """The SQL condition on ``runs`` (aliased ``r``) and its parameters."""
        parts, args = [], []
        for column in ("corpus", "kind"):
            if getattr(self, column) is not None:
                parts.append(f"r.{column} = ?")
                args.append(getattr(self, column))
        if self.protocol is not None:
            parts.append("(r.protocol = ? OR r.protocol LIKE ?)")
            args += [self.protocol, f"{self.protocol}%"]
        for column, value in (("keys", self.key), ("heads", self.head)):
            if value is not None:
                parts.append(f"EXISTS (SELECT 1 FROM json_each(r.{column}) WHERE value = ? OR value LIKE ?)")
                args += [value, f"{value}.%"]
        if self.tag is not None:
            parts.append("EXISTS (SELECT 1 FROM tags t WHERE t.run = r.id AND t.tag = ?)")
            args.append(self.tag)
        for op, value in ((">=", self.since), ("<", self.until)):
            if value is not None:
                parts.append(f"r.created {op} ?")
                args.append(_date(value, "since" if op == ">=" else "until"))
        return (" AND ".join(parts) or "1"), args


def _date(text: str, name: str) -> str:
    import datetime

    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        raise OptionError(name, text, "expected a date such as 2026-12-01") from None


def _tags(con, run_id: int) -> list[str]:
    return [t for (t,) in con.execute("SELECT tag FROM tags WHERE run = ? ORDER BY tag", (run_id,))]


def _row(con, r: tuple) -> dict:
    row = dict(zip(_RUN_COLUMNS, r))
    row["uid"] = row["uid"][:12]
    row["keys"], row["heads"] = json.loads(row["keys"]), json.loads(row["heads"])
    row["official"] = bool(row["official"])
    row["grouped"] = None if row["grouped"] is None else bool(row["grouped"])
    row["tags"] = _tags(con, row["id"])
    best = con.execute("SELECT max(value), min(value) FROM figures WHERE run = ? AND repeat = -1 AND metric = ?",
                       (row["id"], row["metric"])).fetchone()
    row["best"] = best[1] if row["metric"] in _LOWER_IS_BETTER else best[0]
    return row


_LOWER_IS_BETTER = ("mae", "rmse", "mse")


def list_runs(path=None, filt: RunFilter = RunFilter(), limit: int | None = None) -> list[dict]:
    """The runs that match ``filt``, newest first, each with its tags and its best cell's figure."""
    where, args = filt.where()
    sql = f"SELECT {', '.join('r.' + c for c in _RUN_COLUMNS)} FROM runs r WHERE {where} ORDER BY r.id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with connect(path, create=False) as con:
        return [_row(con, r) for r in con.execute(sql, args).fetchall()]


def resolve_run(con, ref: str) -> int:
    """A run's id from ``ref``: its number, a prefix of its uid, or ``last`` (``last~1``: the one before)."""
    text = str(ref).strip()
    if not text:
        raise OptionError("run", ref, "give a run's number, a prefix of its id, last or last~N")
    if text.startswith("last"):
        back = text[5:] if text.startswith("last~") else "0"
        if text not in ("last",) and not (text.startswith("last~") and back.isdigit()):
            raise OptionError("run", ref, "give a run's number, a prefix of its id, last or last~N")
        row = con.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET ?", (int(back),)).fetchone()
    elif text.isdigit():
        number = int(text)
        row = con.execute("SELECT id FROM runs WHERE id = ?", (number,)).fetchone() if number < 2 ** 63 else None
    else:
        found = con.execute("SELECT id FROM runs WHERE uid LIKE ? LIMIT 2", (text.lower() + "%",)).fetchall()
        if len(found) > 1:
            raise OptionError("run", ref, "more than one run's id starts so: give more of it")
        row = found[0] if found else None
    if row is None:
        raise OptionError("run", ref, "no such run in this store: faceprobe runs list shows them")
    return row[0]


def get_run(path, ref: str) -> dict:
    """One run in full: its columns, options, provenance, tags and cell figures."""
    with connect(path, create=False) as con:
        run_id = resolve_run(con, ref)
        r = con.execute(f"SELECT {', '.join(_RUN_COLUMNS)}, argv, options, provenance, host, cpu, gpu, cache, dataset, key_ids "
                        "FROM runs WHERE id = ?", (run_id,)).fetchone()
        row = _row(con, r[:len(_RUN_COLUMNS)])
        extra = dict(zip(("argv", "options", "provenance", "host", "cpu", "gpu", "cache", "dataset", "key_ids"), r[len(_RUN_COLUMNS):]))
        for name in ("argv", "options", "provenance", "key_ids"):
            extra[name] = json.loads(extra[name])
        row.update(extra)
        row["cells"] = _figures(con, "run = ? AND repeat = -1", [run_id])
        row["folds"] = _figures(con, "run = ? AND repeat >= 0", [run_id])
    return row


_FIGURE_COLUMNS = ("key", "head", "target", "metric", "repeat", "fold", "value", "std", "low", "high", "over")
FIGURE_ROW_COLUMNS = ("run", "uid", "created", "kind", "corpus", "protocol", "official", "grouped", *_FIGURE_COLUMNS, "tags")
"""The columns of :func:`figure_rows` (and of :func:`faceprobe.runs`'s DataFrame), in order."""


def _figures(con, where: str, args: list) -> list[dict]:
    sql = f"SELECT {', '.join(_FIGURE_COLUMNS)} FROM figures WHERE {where} ORDER BY key, head, target, metric, repeat, fold"
    return [dict(zip(_FIGURE_COLUMNS, r)) for r in con.execute(sql, args)]


def figure_rows(path=None, filt: RunFilter = RunFilter(), folds: bool = False) -> list[dict]:
    """Every cell figure (``folds``: every fold's too) of the matching runs, one row each, with its
    run's id, date, kind, corpus, protocol, grouping and tags: the tidy table of :func:`faceprobe.runs`."""
    where, args = filt.where()
    scope = "" if folds else " AND f.repeat = -1"
    sql = ("SELECT r.id, substr(r.uid, 1, 12), r.created, r.kind, r.corpus, r.protocol, r.official, r.grouped, "
           f"{', '.join('f.' + c for c in _FIGURE_COLUMNS)} FROM runs r JOIN figures f ON f.run = r.id "
           f"WHERE {where}{scope} ORDER BY r.id, f.key, f.head, f.target, f.metric, f.repeat, f.fold")
    with connect(path, create=False) as con:
        rows = [dict(zip(FIGURE_ROW_COLUMNS, r)) for r in con.execute(sql, args)]
        tags = {}
        for run_id, tag in con.execute("SELECT run, tag FROM tags ORDER BY tag"):
            tags.setdefault(run_id, []).append(tag)
    for r in rows:
        r["tags"] = ",".join(tags.get(r["run"], []))
        r["official"] = bool(r["official"])
        r["grouped"] = None if r["grouped"] is None else bool(r["grouped"])
    return rows


def leaderboard(path=None, filt: RunFilter = RunFilter(), metric: str = "balanced_accuracy") -> list[dict]:
    """The best cell per corpus x protocol on ``metric`` (lowest for errors), over the matching runs,
    marking official protocols and runs that did not group by subject (leak-prone)."""
    lower = metric in _LOWER_IS_BETTER
    best: dict = {}
    rows = figure_rows(path, filt)
    known = sorted({r["metric"] for r in rows if r["kind"] != "featurize"})
    if rows and not known:
        raise OptionError("kind", filt.kind, "featurize runs have no cell figures to rank: rank classify or fit runs")
    if rows and metric not in known:
        raise OptionError("metric", metric, f"no matching run has it; they have: {', '.join(known)}")
    for r in rows:
        if r["metric"] != metric or r["value"] is None:
            continue
        at = (r["corpus"] or "-", r["protocol"] or "-")
        if at not in best or (r["value"] < best[at]["value"] if lower else r["value"] > best[at]["value"]):
            best[at] = r
    rows = []
    for (corpus, protocol), r in sorted(best.items()):
        rows.append({"corpus": corpus, "protocol": protocol, "official": r["official"],
                     "grouped": {True: "by subject", False: "NOT grouped (leak-prone)", None: "fixed split"}[r["grouped"]],
                     "key": r["key"], "head": r["head"], "target": r["target"], metric: r["value"], "std": r["std"],
                     "run": r["run"], "uid": r["uid"], "created": r["created"]})
    return rows


def tag_run(path, ref: str, add: tuple = (), remove: tuple = ()) -> tuple[int, list[str], list[str]]:
    """Add and remove tags of a run.

    Returns
    -------
    run : int
        The run's number.
    tags : list of str
        The run's tags now.
    absent : list of str
        The tags of ``remove`` the run did not have.
    """
    why = tag_refusal(add)
    if why:
        raise OptionError("tag", list(add), why)
    with connect(path, create=False) as con:
        run_id = resolve_run(con, ref)
        con.execute("BEGIN IMMEDIATE")
        had = set(_tags(con, run_id))  # read inside the transaction that removes
        absent = [t for t in remove if t not in had]
        con.executemany("INSERT OR IGNORE INTO tags (run, tag) VALUES (?, ?)", [(run_id, t) for t in add])
        con.executemany("DELETE FROM tags WHERE run = ? AND tag = ?", [(run_id, t) for t in remove])
        con.execute("COMMIT")
        return run_id, _tags(con, run_id), absent


def note_run(path, ref: str, text: str) -> int:
    """Set a run's note (empty text clears it); returns the run's number."""
    if not isinstance(text, str):
        raise FaceprobeError("a note is text")
    with connect(path, create=False) as con:
        run_id = resolve_run(con, ref)
        con.execute("UPDATE runs SET note = ? WHERE id = ?", (text or None, run_id))
    return run_id
