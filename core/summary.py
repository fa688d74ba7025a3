"""A short human summary of a definition for table output (JSON output shows it whole).

Generic: the backend says which fields matter (``amlws_summarize``) and which trained models the
definition points at (``amlws_model_reference``); without a summary, the document's top-level
scalar fields are shown.
"""

from __future__ import annotations

from typing import Any

from .model import Definition
from .redact import SECRET_KEYS, redact, redact_obj


def scalar_fields(*sources: Any) -> dict[str, Any]:
    """The scalar fields of ``sources`` (dicts; the first wins on a repeated name), secrets left out."""
    out: dict[str, Any] = {}
    for source in sources:
        for k, v in (source if isinstance(source, dict) else {}).items():
            if isinstance(v, (str, int, float, bool)) and str(k).lower() not in SECRET_KEYS:
                out.setdefault(k, v)
    return out


def summarize(definition: Definition, host: Any = None) -> dict[str, Any]:
    """``backend``, ``target``, the backend's summary fields and ``trainedModels`` (SAS masked).

    :param host: the :class:`amlws.host.Host` to ask the backend; ``None``: the generic fields only.
    """
    out: dict[str, Any] = {"backend": definition.backend}
    if definition.target:
        out["target"] = definition.target.id
    fields = host.summarize(definition) if host is not None else None
    for k, v in (scalar_fields(definition.document) if fields is None else fields).items():
        out.setdefault(k, v)
    models = host.model_references(definition) if host is not None else []
    if models:
        out["trainedModels"] = "; ".join(f"{m['name']}: {redact(m['uri'])}" for m in models)
    return redact_obj(out)
