"""``faceprobe corpus list|show|manifest``: the public corpora faceprobe knows by name."""

from __future__ import annotations

import click

from .common import clean_errors, echo_json

__all__ = ["corpus_group", "protocol_flags"]


def protocol_flags(protocol) -> str:
    """The classify flags that run a corpus's protocol (``--split-col split --train Training ...``)."""
    from .options import flag_map

    flags = flag_map()
    return " ".join(f"{flags[k]} {v}" for k, v in protocol.classify_options().items())


def _corpora():
    from ..corpora import CORPORA

    return CORPORA


@click.group("corpus")
def corpus_group():
    """The field's corpora by name: layouts, protocols, terms and published references."""


@corpus_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@clean_errors
def list_command(as_json):
    """List the corpora with their protocol and access terms.

    \b
    Example:
      faceprobe corpus list
    """
    rows = [{"name": n, "title": c.title, "protocol": c.protocol.kind, "classes": len(c.classes), "targets": list(c.targets),
             "access": c.access} for n, c in _corpora().items()]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['name']:<10} {r['protocol']:<6} {r['title']}")


@corpus_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@clean_errors(names={"corpus": "NAME"})
def show_command(name, as_json):
    """Show one corpus: layouts, labels, protocol, terms, label-file hashes and references.

    \b
    Example:
      faceprobe corpus show fer2013
    """
    from dataclasses import asdict

    c = _corpora().get(name)
    info = {"name": c.name, "title": c.title, "classes": list(c.classes), "targets": list(c.targets),
            "layouts": [{"name": lay.name, "expects": lay.expects, "label_files": [asdict(f) for f in lay.label_files]}
                        for lay in c.layouts],
            "protocol": {**asdict(c.protocol), "classify": c.protocol.classify_options()},
            "licence": c.licence, "access": c.access, "references": [asdict(r) for r in c.references],
            "options": {k: {"default": p.default, "help": p.doc, "takes": p.describe()} for k, p in c.options.items()}, "notes": list(c.notes)}
    if as_json:
        echo_json(info)
        return
    click.echo(f"{c.name}: {c.title}")
    click.echo(f"classes: {', '.join(c.classes) or '-'}" + (f"; targets: {', '.join(c.targets)}" if c.targets else ""))
    for lay in info["layouts"]:
        hashes = "; ".join(f"{f['path']} md5 {f['md5'] or 'not published'}" for f in lay["label_files"])
        click.echo(f"layout {lay['name']}: {lay['expects']}" + (f" ({hashes})" if hashes else ""))
    click.echo(f"protocol ({c.protocol.kind}): {c.protocol.description}")
    click.echo(f"classify with: {protocol_flags(c.protocol)}")
    click.echo(f"licence: {c.licence}\naccess: {c.access}")
    for k, v in info["options"].items():
        click.echo(f"option {k} (default {v['default']}): {v['help']}")
    for r in c.references:
        click.echo(f"reference: {r.figure:g} {r.metric}, {r.protocol}; {r.network} ({r.training}); {r.source}")
    for note in c.notes:
        click.echo(f"note: {note}")


@corpus_group.command("manifest")
@click.argument("name")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Manifest CSV to write.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="A corpus option (see corpus show NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print what was read as JSON.")
@clean_errors(names={"corpus": "NAME", "corpus_options": "--option"})
def manifest_command(name, path, output, options, as_json):
    """Read a corpus folder as published and write its manifest (path, label, subject, sequence,
    frame, split, fold, then the corpus's own columns).

    \b
    Example:
      faceprobe corpus manifest fer2013 ~/data/fer2013 -o fer2013.csv
      faceprobe corpus manifest ckplus ~/data/CK+ -o ck.csv --option neutral=true
    """
    from ..corpora import corpus_manifest, write_manifest
    from ..corpora.manifest import parse_corpus_options
    from ..outputs import check_writable

    given = parse_corpus_options(options, "option", name)
    check_writable(output, "output")
    m = corpus_manifest(name, path, **given)
    n = write_manifest(m, output)
    if as_json:
        echo_json({**m.provenance(), "rows": n, "output": output, "notes": m.notes})
        return
    splits = {}
    for s in m.columns["split"]:
        splits[s] = splits.get(s, 0) + 1
    by = ", ".join(f"{k} {v}" for k, v in sorted(splits.items()) if k)
    click.echo(f"wrote {n} rows of {m.corpus} ({m.layout} layout) to {output}" + (f": {by}" if by else ""))
    for f in m.label_files:
        state = {True: "matches the published md5", False: "DIFFERS from the published md5", None: "no published hash"}[f["matches"]]
        click.echo(f"{f['path']}: sha256 {f['sha256']} ({state})")
    for note in m.notes:
        click.echo(f"note: {note}")
