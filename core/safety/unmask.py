"""Secrets that history and ``amlws export`` masked (``sig=***``), put back before a change.

History keeps no secret (:func:`amlws.safety.history.safe_definition`) and ``amlws export``
writes none unless ``--include-keys``; a definition sent back to the service must carry the
live service's secrets where it left them unchanged. Used by the change path
(:mod:`amlws.safety.change`), ``--what-if`` plans and ``amlws rollback``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from ..errors import UsageError
from ..model import Definition
from ..redact import MASK, redact_obj

log = logging.getLogger("amlws")

__all__ = ["is_masked", "restore_masked", "unmask"]


def unmask(saved: Any, live: Any, *, sas_token: str | None = None, path: str = "") -> tuple[Any, list[str]]:
    """Put back the secrets history masked: from ``live`` where unchanged, else ``sas_token`` for SAS.

    :returns: the restored document and the paths of masked values that could not be restored
        (other than SAS, such values are dropped: the service keeps its current one).
    """
    lost: list[str] = []

    def walk(node: Any, current: Any, where: str, key: str | None) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                cur = current.get(k) if isinstance(current, dict) else None
                value = walk(v, cur, f"{where}.{k}" if where else str(k), k)
                if value is _DROP:
                    continue
                out[k] = value
            return out
        if isinstance(node, list):
            return [walk(v, current[i] if isinstance(current, list) and i < len(current) else None, f"{where}[{i}]", key)
                    for i, v in enumerate(node)]
        if not isinstance(node, str) or not is_masked(node):
            return node
        if isinstance(current, str) and _masked(key, current) == node:
            return current  # the live service still has this secret
        is_sas = "sig=" + MASK in node or (key or "").lower() == "sasblobtoken"
        if is_sas and sas_token:
            token = sas_token.lstrip("?")
            if (key or "").lower() == "sasblobtoken":
                return "?" + token if node.startswith("?") else token
            return node.split("?", 1)[0] + "?" + token
        if is_sas:
            lost.append(where)
            return node
        log.warning("%s was masked in history and differs on the service: it is left out (the service keeps its value)", where)
        return _DROP

    return walk(saved, live, path, None), lost


_DROP = object()
_MASKED_PART = re.compile(r"(?i)(sig=|AccountKey=|SharedAccessSignature=|bearer\s+)" + re.escape(MASK))


def is_masked(value: str) -> bool:
    """Whether amlws masked a secret in ``value`` (a whole masked value, or a masked SAS/key inside it)."""
    return value == MASK or bool(_MASKED_PART.search(value))


def restore_masked(definition: Definition, live: Definition) -> Definition:
    """Put the live service's secrets back where an exported definition has them masked
    (``sig=***``: ``amlws export`` never writes secrets unless ``--include-keys``).

    :raises UsageError: a masked SAS whose blob the live service no longer uses (nothing to restore it from).
    """
    restored, lost = unmask(definition.document, live.document)
    if lost:
        raise UsageError(
            f"the definition has masked SAS signatures (sig={MASK}) for models the service does not use now: {', '.join(lost)}",
            hint="run amlws patch-ilearner again with the model's full SAS URI, or export with --include-keys",
        )
    if restored == definition.document:
        return definition
    return Definition(definition.backend, restored, definition.target)


def _masked(key: str | None, value: str) -> Any:
    return redact_obj({key: value})[key] if key is not None else redact_obj(value)
