"""Words shared by the text tables and reports: the protocol and the hyperparameters inner CV chose."""

from __future__ import annotations

__all__ = ["chosen_params", "chosen_by", "protocol_words", "chance_line", "within_title", "within_tables", "text_table", "reference_lines", "reference_rows", "grouped_words", "group_column"]


def text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """An aligned text table: the first column left, the others right, a rule under the header."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]


def chosen_params(head_result: dict) -> str:
    """What inner CV picked, with how many folds picked it: ``C=1, gamma=scale (7); C=10, gamma=scale (3)``."""
    from collections import Counter

    picks = Counter(", ".join(f"{k}={v}" for k, v in sorted(f["params"].items())) for f in head_result["folds"] if f.get("params"))
    return "; ".join(f"{p} ({n})" for p, n in sorted(picks.items(), key=lambda kv: (-kv[1], kv[0])))


def chosen_by(split: dict) -> str:
    """Who chose the hyperparameters: ``inner CV (folds)``, or a fixed split's validation part."""
    fixed = split.get("fixed") or {}
    if fixed.get("val"):
        return f"on the validation part ({fixed.get('column')} {','.join(fixed['val'])})"
    return "by inner CV (folds)"


def group_column(prov: dict) -> str:
    """The column splits were grouped by (``subject`` unless ``group`` named another)."""
    group = prov.get("group") or "auto"
    return "subject" if group in ("auto", "subject", "none") else group


def grouped_words(prov: dict) -> str:
    """``grouped by subject`` (or the column grouped by), ``NOT grouped by subject``, or ``split given``."""
    split = prov.get("split", {})
    if split.get("fixed"):
        return "split given"
    return f"grouped by {group_column(prov)}" if split.get("group") else "NOT grouped by subject"


def protocol_words(split: dict, group: str = "subject") -> str:
    """The protocol in words: ``5-fold CV, 3 repeats``, ``leave-one-subject-out``, a fixed split."""
    if split.get("loso"):
        return "leave-one-subject-out" if group == "subject" else f"leave one {group} out"
    if split.get("fixed"):
        f = split["fixed"]
        if "train_where" in f:
            return f"cross-corpus: train where {' & '.join(f['train_where'])}, test where {' & '.join(f['test_where'])}"
        val = f", validation {','.join(f['val'])}" if f["val"] else ""
        return f"fixed split on {f['column']}: train {','.join(f['train'])}, test {','.join(f['test'])}{val}"
    if split.get("splitter"):
        proto = split["splitter"]
    else:
        proto = f"{split.get('cv')}-fold CV" if split.get("cv") else f"{split.get('holdout'):.0%} holdout"
    if split.get("repeats", 1) > 1:
        proto += f", {split['repeats']} repeats"
    return proto


def chance_line(cells: dict, metric: str) -> str:
    """``against chance (100 permutations, labels moved between subjects): svm p = 0.010 (null 21.0 ± 2.0 %); ...``,
    or "" when no cell has a permutation test."""
    recs = {h: c.get("permutation") for h, c in cells.items() if c.get("permutation")}
    if not recs:
        return ""
    from ..classify.regression.metrics import REGRESSION_METRICS

    first = next(iter(recs.values()))
    if metric in REGRESSION_METRICS:  # in the target's own units, as its table shows it
        parts = [f"{h} p = {r['p']:.3g} (null {r['null_mean']:.3g} ± {r['null_std']:.3g})" for h, r in recs.items()]
    else:  # a fraction, shown in % as every table shows it
        parts = [f"{h} p = {r['p']:.3g} (null {100 * r['null_mean']:.1f} ± {100 * r['null_std']:.1f} %)" for h, r in recs.items()]
    return f"{metric} against chance ({first['permutations']} permutations, {first['scheme']}): " + "; ".join(parts)


def within_tables(cells: dict, figures: list[tuple[str, str]], cell) -> list[tuple[str, list[list[str]]]]:
    """Each corpus's own cross-validation beside a cross-corpus run, as (title, rows): a row per
    (name, label) of ``figures``, a column per head, each summary rendered by ``cell``."""
    out = []
    for part in ("train", "test"):
        within = {h: c.get("within", {}).get(part) for h, c in cells.items()}
        entry = next((w for w in within.values() if w), None)
        if entry is None:
            continue
        rows = [[label] + [cell(w["summary"].get(name)) if w and "summary" in w else "-" for w in within.values()]
                for name, label in figures]
        failed = any(w and "error" in w for w in within.values())
        out.append((within_title(part, entry) + ("; no figures (see the notes)" if failed else ""), rows))
    return out


def within_title(part: str, entry: dict) -> str:
    """``within the test corpus: 5-fold CV, grouped (120 images, 12 subjects)``."""
    split = entry["split"]
    grouped = "grouped by subject" if split.get("group") else "not grouped"
    return (f"within the {part} corpus, its own {protocol_words(split)}, {grouped} ({entry['rows']} images, "
            f"{entry['subjects']} subjects)")


REFERENCE_HEADER = ["figure", "metric", "protocol", "network", "training", "source"]


def reference_rows(res: dict) -> tuple[str, list[list[str]]]:
    """``(corpus, rows)`` of the published figures a run under a corpus's official protocol
    carries (``("", [])`` otherwise), each row as :data:`REFERENCE_HEADER`."""
    official = res.get("protocol") or {}
    refs = official.get("references") or []
    return official.get("corpus", ""), [[f"{r['figure']:g}", r["metric"], r["protocol"], r["network"], r["training"], r["source"]]
                                        for r in refs]


def reference_lines(res: dict) -> list[str]:
    """The corpus's published figures, under the official protocol's results (none otherwise).

    They are printed as published, not computed here, each marked by how its network was trained:
    a fine-tuned or trained network's figure is not what frozen features should reach.
    """
    corpus, rows = reference_rows(res)
    if not rows:
        return []
    lines = ["", f"published on {corpus} (as published, not computed here; compare like with like: frozen with frozen)"]
    lines += text_table(REFERENCE_HEADER, rows)
    official = res["protocol"]
    mismatched = [f["path"] for f in official.get("label_files", []) if f.get("matches") is False]
    if mismatched:
        lines.append(f"note: {', '.join(mismatched)} differ from the published files: these figures may not compare")
    return lines
