"""Index lifecycle: templates, first indices behind aliases (provisioning, idempotent), and
reindex into a new index version with an atomic alias swap."""
from __future__ import annotations

import re
from typing import Any

from cqrs.settings import Settings
from projections.search.mappings import SPECS, SPECS_BY_RESOURCE, alias_name, template_body


def provision(settings: Settings, client: Any = None) -> None:
    """`cqrs up` step (cqrs.provision.EXTRA_STEPS): templates overwritten (so a mapping change in
    code reaches the next index version), first index `<alias>-v1` created only if the alias is missing."""
    if client is None:
        from projections.search.client import make_client

        client = make_client(settings)
    prefix = settings.table_prefix
    for spec in SPECS:
        alias = alias_name(spec.resource, prefix)
        client.indices.put_index_template(name=f"{alias}-template", body=template_body(spec, prefix))
        if not client.indices.exists_alias(name=alias):
            client.indices.create(index=f"{alias}-v1", body={"aliases": {alias: {"is_write_index": True}}})


def current_index(client: Any, alias: str) -> str:
    indices = list(client.indices.get_alias(name=alias))
    if len(indices) != 1:
        raise RuntimeError(f"alias {alias} points at {indices}; expected exactly one index")
    return indices[0]


def _next_name(alias: str, current: str, client: Any) -> str:
    m = re.fullmatch(re.escape(alias) + r"-v(\d+)", current)
    n = int(m.group(1)) + 1 if m else 2
    while client.indices.exists(index=f"{alias}-v{n}"):
        n += 1
    return f"{alias}-v{n}"


def reindex(settings: Settings, resource: str, client: Any = None) -> dict[str, Any]:
    """Build `<alias>-v(n+1)` from the current index (template mapping applies), swap the alias in
    one atomic `_aliases` call, then copy again: a write that reached the old index during the first
    copy is carried over, and external versions make both copies idempotent. The old index is kept
    (roll back by pointing the alias at it); drop it with the indices API when satisfied."""
    if resource not in SPECS_BY_RESOURCE:
        raise ValueError(f"unknown search entity {resource!r}; one of: {', '.join(SPECS_BY_RESOURCE)}")
    if client is None:
        from projections.search.client import make_client

        client = make_client(settings, timeout=120)
    alias = alias_name(resource, settings.table_prefix)
    old = current_index(client, alias)
    new = _next_name(alias, old, client)
    client.indices.create(index=new)

    def copy() -> dict[str, Any]:
        return dict(client.reindex(body={"conflicts": "proceed", "source": {"index": old},
                                         "dest": {"index": new, "version_type": "external"}},
                                   refresh=True, wait_for_completion=True))

    first = copy()
    if first.get("failures"):
        client.indices.delete(index=new)
        raise RuntimeError(f"reindex {old} -> {new} failed, alias unchanged: {first['failures'][:3]}")
    client.indices.update_aliases(body={"actions": [
        {"remove": {"index": old, "alias": alias}},
        {"add": {"index": new, "alias": alias, "is_write_index": True}},
    ]})
    second = copy()
    return {"alias": alias, "from": old, "to": new, "copied": first.get("total", 0),
            "caught_up": second.get("created", 0) + second.get("updated", 0)}
