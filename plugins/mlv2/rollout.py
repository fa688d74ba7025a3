"""Blue/green rollout of a model version on an online endpoint (``amlws rollout``), and what an
endpoint's rollback needs to undo one.

The documented safe rollout (a dozen ``az ml`` commands) as one change:

1. the new deployment is a copy of the one taking traffic (``--from``; default: the largest share)
   with ``properties.model`` set to the new version (which must exist), created at 0 %;
2. it is smoke-scored directly (header ``azureml-model-deployment``), when rows are given;
3. traffic moves step by step (``--steps 10,50,100``: the percentage of the old deployment's share
   moved to the new one), each step one endpoint ``PUT`` followed by a smoke request through the
   endpoint; ``--pause`` waits between steps;
4. the old deployment is deleted (unless ``--keep-old``).

Before each traffic ``PUT`` the endpoint is read again: when its split is not what the rollout last
wrote (someone else changed it), the rollout stops with exit 5 naming the change and overwrites
nothing. A failed create leaves the traffic as it was (exit 1); a failed smoke step puts back the
split from before the rollout and exits 5.

The whole rollout is **one** history entry of the endpoint (action ``rollout``, saved before the
first request), so ``amlws rollback ENDPOINT`` restores the split from before it. Deleting the old
deployment is its own change of that deployment (``remove``: vetoable, saved to its history), which
is where the endpoint's rollback finds the definition to re-create it from
(:func:`amlws.safety.change.saved_definition`, through :func:`recreations`).

Default name of the new deployment: ``green`` when the old one is ``blue``, ``blue`` when it is
``green`` (the docs' alternation), else ``<from>-<version>`` (``main-7``); an existing name is
refused (exit 5) before anything is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amlws.errors import ConflictError, GateFailedError, RemoteError, UsageError

from .definition import export_document, patch_model, shares_of, with_traffic
from .ids import NAME_PATTERN, endpoint_id, parse_model_ref, parse_target, workspace_id
from .scoring import Scorer

if TYPE_CHECKING:
    from amlws.host import Host
    from amlws.model import Target

log = logging.getLogger("amlws")

DEFAULT_STEPS = (10, 50, 100)
#: history's name for the change (``amlws history ENDPOINT``)
ACTION = "rollout"


def parse_steps(text: str | None) -> list[int]:
    """``"10,50,100"`` -> ``[10, 50, 100]``: increasing whole percentages, the last one 100.

    :raises UsageError: (exit 2) anything else.
    """
    if text is None or not str(text).strip():
        return list(DEFAULT_STEPS)
    try:
        steps = [int(p) for p in str(text).replace(" ", "").split(",") if p]
    except ValueError:
        steps = []
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)) or steps[-1] != 100:
        raise UsageError(f"bad --steps {text!r}", hint="give increasing percentages of the old share to move, ending at 100, e.g. 10,50,100")
    return steps


def default_name(source: str, version: str) -> str:
    """``green`` after ``blue``, ``blue`` after ``green``, else ``<source>-<version>``."""
    alternation = {"blue": "green", "green": "blue"}
    if source.lower() in alternation:
        return alternation[source.lower()]
    name = f"{source}-{version}"
    return name if NAME_PATTERN.match(name) else f"{source}-new"


def fmt(shares: dict[str, int]) -> str:
    """``blue=90 green=10`` (``no traffic`` when empty)."""
    return " ".join(f"{k}={v}" for k, v in sorted(shares.items())) or "no traffic"


@dataclass
class RolloutPlan:
    """Everything a rollout will send, decided from one read of the endpoint and its deployments."""

    endpoint_id: str
    endpoint: dict[str, Any]
    source: str
    source_document: dict[str, Any]
    name: str
    body: dict[str, Any]
    model: str
    original: dict[str, int]
    splits: list[dict[str, int]]
    steps: list[int]
    keep_old: bool
    smoke: bool
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def deployment_id(self) -> str:
        return f"{self.endpoint_id}/deployments/{self.name}"

    @property
    def source_id(self) -> str:
        return f"{self.endpoint_id}/deployments/{self.source}"

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint_id, "from": self.source, "to": self.name, "model": self.model,
                "trafficBefore": self.original, "steps": [{"percent": p, "traffic": s} for p, s in zip(self.steps, self.splits)],
                "keepOld": self.keep_old, "smoke": self.smoke}


def splits_for(original: dict[str, int], source: str, name: str, steps: list[int]) -> list[dict[str, int]]:
    """The split after each step: ``p`` % of ``source``'s share moved to ``name``; other deployments keep theirs."""
    share = original.get(source, 0)
    out = []
    for p in steps:
        moved = round(share * p / 100)
        split = {**original, source: share - moved, name: moved}
        out.append({k: v for k, v in split.items() if v})
    return out


def plan_rollout(client: Any, endpoint: str, model: str, *, source: str | None = None, name: str | None = None,
                 steps: list[int] | None = None, keep_old: bool = False, smoke: bool = False) -> RolloutPlan:
    """Read the endpoint, its deployments and the model version; decide every request. Nothing is changed.

    :raises UsageError: (2) a bad model reference, ``--from`` not a deployment or taking no traffic.
    :raises NotFoundError: (3) the endpoint or the model version does not exist.
    :raises ConflictError: (5) the new deployment's name exists already.
    """
    parts = parse_target(endpoint)
    if parts is None or parts["deployment"]:
        raise UsageError(f"not an online endpoint: {endpoint}", hint="give the endpoint (…/onlineEndpoints/EP, or -g RG -w WS -e EP)")
    ep_id = endpoint_id(parts["id"])
    workspace = workspace_id(parts["subscription"], parts["resource_group"], parts["workspace"])
    ref = parse_model_ref(model)
    live = client.get_endpoint(ep_id)
    deployments = {str(d.get("name")): d for d in client.list_deployments(ep_id)}
    traffic = shares_of(live)
    if source is None:
        if not traffic:
            raise UsageError(f"no deployment of {ep_id} takes traffic", hint="name the deployment to copy with --from DEP")
        source = max(sorted(traffic), key=lambda n: traffic[n])
    found = {n.lower(): n for n in deployments}
    if source.lower() not in found:
        raise UsageError(f"no deployment named {source} on {ep_id} (it has: {', '.join(sorted(deployments)) or 'none'})",
                         hint="give --from one of its deployments")
    source = found[source.lower()]
    if not traffic.get(source):
        raise UsageError(f"deployment {source} takes no traffic: a rollout has nothing to move",
                         hint="shift traffic with amlws traffic, or give --from the deployment taking traffic")
    ref = client.resolve_model(ref, workspace)
    asset = ref.asset_id(workspace)
    if not ref.registry:
        client.get_model_version(asset)  # must exist: exit 3 before anything is sent
    name = name or default_name(source, str(ref.version))
    if not NAME_PATTERN.match(name):
        raise UsageError(f"invalid deployment name {name!r}", hint="letters, digits, '-' and '_' (--to NAME)")
    if name.lower() in found:
        raise ConflictError(f"deployment {found[name.lower()]} exists already on {ep_id}: a rollout creates a new one",
                            hint="name another with --to NAME, or remove it first (amlws mlv2 deployments remove)")
    body = patch_model(export_document(deployments[source]), ref, workspace)
    steps = steps or list(DEFAULT_STEPS)
    plan = RolloutPlan(ep_id, live, source, deployments[source], name, body, asset, traffic,
                       splits_for(traffic, source, name, steps), steps, keep_old, smoke)
    plan.requests = planned_requests(client, plan)
    return plan


def planned_requests(client: Any, plan: RolloutPlan) -> list[dict[str, Any]]:
    """``{"method", "url", "body"}`` for every change request (reads and smoke scoring named only)."""
    url = client.url
    out: list[dict[str, Any]] = [{"method": "PUT", "url": url(plan.deployment_id), "body": plan.body}]
    if plan.smoke:
        out.append({"method": "POST", "url": "<scoringUri> (azureml-model-deployment: " + plan.name + ")", "body": None})
    for split in plan.splits:
        out.append({"method": "GET", "url": url(plan.endpoint_id), "body": None})
        out.append({"method": "PUT", "url": url(plan.endpoint_id), "body": with_traffic(plan.endpoint, split, None)})
        if plan.smoke:
            out.append({"method": "POST", "url": "<scoringUri>", "body": None})
    if not plan.keep_old:
        out.append({"method": "DELETE", "url": url(plan.source_id), "body": None})
    return out


def _read_unchanged(client: Any, plan: RolloutPlan, written: dict[str, int]) -> dict[str, Any]:
    """The endpoint read just before a traffic ``PUT``; :class:`ConflictError` (5) when its split is
    not the one the rollout last wrote."""
    current = client.get_endpoint(plan.endpoint_id)
    found = shares_of(current)
    if found != written:
        raise ConflictError(
            f"the traffic of {plan.endpoint_id} changed during the rollout: amlws last set {fmt(written)}, "
            f"it is now {fmt(found)}; nothing was overwritten",
            hint=f"find who changed it; deployment {plan.name} stays as it is; set the split with amlws traffic, "
                 "or undo the rollout with amlws rollback ENDPOINT",
        )
    return current


def run_rollout(host: Host, target: Target, plan: RolloutPlan, client: Any, *, smoke_body: dict[str, Any] | None = None,
                pause: float = 0.0, sleep: Callable[[float], None] | None = None,
                info: Callable[[str], None] | None = None, action: str = ACTION, note: str | None = None,
                metrics: dict[str, float] | None = None) -> dict[str, Any]:
    """Make the rollout ``plan`` describes, as one change of the endpoint ``target`` (see the module docstring).

    :param action: history's name for it (``rollout``; a fleet row: ``fleet``; ``retrain``), ``note`` its note.
    :param metrics: the evaluation of the model rolled out (a retrain's), kept with the history entry.

    :raises OperationFailed: (1) the new deployment failed to create: traffic untouched.
    :raises GateFailedError: (5) a smoke step failed: the split from before the rollout is back.
    :raises ConflictError: (5) someone else changed the traffic meanwhile: nothing overwritten.
    :raises VetoError: (5) an observer vetoed the rollout (or the removal of the old deployment).
    :param info: where progress goes (default: :func:`amlws.progress.current`, stderr in the CLI).
    """
    import time

    from amlws.model import Definition
    from amlws.safety import change

    started = time.monotonic()
    subject = f"rollout {plan.endpoint_id.rsplit('/', 1)[-1]}"

    def report(message: str) -> None:  # stderr through the one progress reporter (never stdout)
        from amlws.progress import current

        current().update(subject, message, time.monotonic() - started)

    say = info or report
    wait = sleep or time.sleep
    new_target = host.resolve(plan.deployment_id, backend=target.backend)
    shown = Definition(target.backend, plan.body, new_target)
    what = f"rollout of {plan.model.rsplit('/models/', 1)[-1]} from {plan.source} to {plan.name}"
    record = change.Change(target, action, shown, plan.endpoint, plan.requests, note=f"{note}: {what}" if note else what,
                           metrics=metrics)
    outcome: dict[str, Any] = {"from": plan.source, "to": plan.name, "model": plan.model, "trafficBefore": plan.original,
                               "steps": []}

    def smoke(scorer: Scorer, where: str, *, deployment: str | None, restore: dict[str, int] | None) -> None:
        if smoke_body is None:
            return
        try:
            scored = scorer.score(smoke_body, deployment=deployment)
        except RemoteError as exc:
            back = ""
            if restore is not None:
                current = _read_unchanged(client, plan, restore)
                client.put_endpoint(plan.endpoint_id, with_traffic(current, plan.original, None))
                back = f"; traffic restored to {fmt(plan.original)}"
            raise GateFailedError(f"smoke test {where} failed: {exc.message}{back}",
                                  hint=f"deployment {plan.name} stays for inspection (amlws mlv2 deployments logs); "
                                       "remove it with amlws mlv2 deployments remove") from None
        say(f"smoke test {where}: ok (served by {scored.deployment or 'the endpoint'})")

    def send() -> change.Sent:
        say(f"creating deployment {plan.name} (copy of {plan.source}, model {plan.model.rsplit('/models/', 1)[-1]}) at 0 %")
        client.put_deployment(plan.deployment_id, plan.body, verb="create")
        scorer = Scorer(client, plan.endpoint, host.settings)
        try:
            smoke(scorer, f"of deployment {plan.name}", deployment=plan.name, restore=None)
            written = plan.original
            endpoint = plan.endpoint
            for i, (percent, split) in enumerate(zip(plan.steps, plan.splits)):
                current = _read_unchanged(client, plan, written)
                say(f"step {i + 1}/{len(plan.splits)}: traffic {fmt(split)}")
                endpoint = client.put_endpoint(plan.endpoint_id, with_traffic(current, split, None)) or current
                written = split
                outcome["steps"].append({"percent": percent, "traffic": split})
                smoke(scorer, f"at {fmt(split)}", deployment=None, restore=written)
                if pause and i < len(plan.splits) - 1:
                    say(f"pausing {pause:g} s")
                    wait(pause)
        finally:
            scorer.close()
        outcome["smokeRequests"] = scorer.requests
        if not plan.keep_old:
            remove_old(host, target, plan, client, say)
        outcome["removed"] = None if plan.keep_old else plan.source
        outcome["trafficAfter"] = shares_of(endpoint) or plan.splits[-1]
        return change.sent(record, Definition(target.backend, endpoint, target), outcome=outcome, verified=True,
                           verification=f"{plan.name} serves {fmt(plan.splits[-1])}")

    result = change.apply(host, record, send)
    return {**plan.to_dict(), **result.details, "message": f"{plan.endpoint_id}: {plan.name} now takes the traffic "
            f"({fmt(outcome['trafficAfter'])})" + ("" if plan.keep_old else f"; {plan.source} removed")}


def remove_old(host: Host, endpoint_target: Target, plan: RolloutPlan, client: Any, say: Callable[[str], None]) -> None:
    """Delete the old deployment as its own change (``remove``): asked of observers, its definition
    saved to its history, from where the endpoint's rollback re-creates it."""
    from amlws.model import Definition
    from amlws.safety import change

    old_target = host.resolve(plan.source_id, backend=endpoint_target.backend)
    live = client.get_deployment(plan.source_id)
    removal = change.Change(old_target, "remove", None, live, [{"method": "DELETE", "url": client.url(plan.source_id), "body": None}],
                            note=f"removed by the rollout to {plan.name}")

    def delete() -> change.Sent:
        say(f"removing deployment {plan.source}")
        client.delete_deployment(plan.source_id)
        return change.sent(removal, Definition(endpoint_target.backend, live, old_target), outcome={"removed": True},
                           verified=True)

    change.apply(host, removal, delete)


# --- an endpoint's rollback: re-create what a rollout deleted ----------------------------------


def recreations(endpoint_doc: dict[str, Any], endpoint: str, existing: Callable[[], set[str]] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``(deployment id, body)`` for each deployment the endpoint document's traffic names whose last
    recorded change was its removal (a rollout deleted it) and, when ``existing`` is given (a call
    listing the endpoint's deployments, made only when there is such a name), that does not exist now.

    Used by the endpoint update (``amlws rollback ENDPOINT`` after a rollout): the deployments are
    re-created from their saved definitions first, then the split is restored in one ``PUT``. Other
    unknown names are left to the traffic check (exit 2).
    """
    from amlws.safety.change import saved_definition

    ep_id = endpoint_id(endpoint)
    props = endpoint_doc.get("properties") or {}
    wanted = {n for n, v in {**(props.get("traffic") or {}), **(props.get("mirrorTraffic") or {})}.items() if v}
    found = []
    for name in sorted(wanted):
        dep_id = f"{ep_id}/deployments/{name}"
        saved = saved_definition(dep_id, action="remove")
        if saved is not None:
            found.append((name, dep_id, export_document(saved)))
    if not found:
        return []
    present = {n.lower() for n in existing()} if existing is not None else set()
    return [(dep_id, body) for name, dep_id, body in found if name.lower() not in present]


def recreate(client: Any, pending: list[tuple[str, dict[str, Any]]], info: Callable[[str], None] | None = None) -> list[str]:
    """``PUT`` each ``(deployment id, body)`` of :func:`recreations` and wait for it; their ids."""
    done = []
    for dep_id, body in pending:
        (info or log.info)(f"re-creating deployment {dep_id.rsplit('/', 1)[-1]} from history")
        client.put_deployment(dep_id, body, verb="create")
        done.append(dep_id)
    return done
