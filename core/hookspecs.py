"""Hook specifications: the contract between the amlws host and its plugins.

These docstrings are the plugin author reference (``docs/plugins.md`` mirrors them and a
test checks that every hook is documented there).

Backend hooks (``amlws_get_definition``, ``amlws_export``, ``amlws_import``,
``amlws_patch_ilearner``, ``amlws_update``) are the five steps of the documented
PowerShell retraining walkthrough (``amlws_patch_model`` is the patch step in a form a
backend without ``.ilearner`` files can answer). The host calls them only on the backend
that claimed the target (or was named with ``--backend``), so an implementation never
sees another backend's targets or definitions. They are ``firstresult``: the call
stops at the first non-``None`` result; returning ``None`` means "not mine".

Observer hooks (``amlws_before_update``, ``amlws_after_update``,
``amlws_after_retrain_job``) are called on every plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    # Annotations only: under ``from __future__ import annotations`` they stay strings, and pluggy
    # reads the parameter names, never the annotations, so loading the specs imports none of these
    # (typer alone costs tens of milliseconds of start-up).
    import typer

    from .config import Settings
    from .model import BackendInfo, Definition, ModelLocation, RetrainJob, ServiceEndpoints, Setting, Target, UpdateResult

hookspec = pluggy.HookspecMarker("amlws")


# --- identity and dispatch ---------------------------------------------------------


@hookspec
def amlws_backend_info() -> BackendInfo | None:
    """Say that this plugin is a backend, and its name.

    :returns: an :class:`amlws.model.BackendInfo`; plugins that are not backends do not implement it.
    """


@hookspec
def amlws_claim_target(target: str, settings: Settings) -> Target | None:
    """Claim a target string this backend understands.

    Called on every backend. Two backends claiming one target is an error naming both. A
    ``UsageError`` raised here (e.g. "an ARM id, but not of my resource type") counts only when no
    other backend claims the target.

    :param target: what the user typed: a resource ID, a URL, ``scheme:rest``...
    :param settings: the invocation's :class:`amlws.config.Settings`.
    :returns: an :class:`amlws.model.Target` when this backend understands ``target``, else ``None``.
    """


@hookspec
def amlws_target_from_options(options: dict[str, Any], settings: Settings) -> str | None:
    """Build a target string from named command-line options.

    Lets the options a backend declares (``BackendInfo.target_options``, e.g. ``--resource-group/--name``)
    stand in for a target string. Called on every backend, with every declared option (another
    backend's too: an option two backends share is one value that each interprets). A
    ``UsageError`` raised here counts only when no other backend builds a target from the options.

    :param options: option name to value (``resource_group``, ``name``, ``workspace``, ...); unset ones are ``None``.
    :returns: a target string that this backend's ``amlws_claim_target`` accepts, or ``None``.
    """


# --- the five backend steps --------------------------------------------------------


@hookspec(firstresult=True)
def amlws_get_definition(target: Target, settings: Settings) -> Definition | None:
    """Read the live definition of a target from the service.

    firstresult: stops at the first non-None result.

    :param target: an :class:`amlws.model.Target` this backend claimed.
    :returns: an :class:`amlws.model.Definition` with ``target`` set.
    :raises amlws.errors.AmlwsError: (e.g. ``NotFoundError``, ``AuthError``) when it cannot.
    """


@hookspec(firstresult=True)
def amlws_export(definition: Definition, settings: Settings, include_keys: bool) -> dict[str, Any] | None:
    """Turn a definition into the JSON document written by ``amlws export``.

    The document must be what the backend's PowerShell equivalent writes (e.g. the
    ``WebService`` resource without read-only fields and nulls). The host writes the file.

    firstresult: stops at the first non-None result.

    :param definition: an :class:`amlws.model.Definition` of this backend.
    :param include_keys: keep API keys/secrets that are otherwise removed.
    :returns: a JSON-serialisable ``dict``.
    """


@hookspec(firstresult=True)
def amlws_import(document: Any, settings: Settings, source: str) -> Definition | None:
    """Validate and normalise a definition document read from a file or a string.

    The host parses the JSON; this hook checks its shape and normalises it. When no
    ``--backend`` is given, every backend is asked in turn: return ``None`` for a document
    that is not in your format, raise ``UsageError`` for one that is but is invalid (it counts
    only when no other backend reads the document).

    firstresult: stops at the first non-None result.

    :param document: the parsed JSON value.
    :param source: where it came from (a file path or ``<string>``), for error messages.
    :returns: an :class:`amlws.model.Definition` (without ``target``), or ``None``.
    """


@hookspec(firstresult=True)
def amlws_patch_ilearner(definition: Definition, location: ModelLocation, settings: Settings, selector: str | None) -> Definition | None:
    """Point a definition's trained-model reference at a new ``.ilearner``.

    Purely local: nothing is sent.

    firstresult: stops at the first non-None result.

    :param definition: an :class:`amlws.model.Definition` of this backend.
    :param location: an :class:`amlws.model.ModelLocation` (base, relative, SAS).
    :param selector: which trained-model asset/resource to patch when there are several (``--asset``/``--resource``).
    :returns: a new :class:`amlws.model.Definition`; the input is not modified.
    """


@hookspec(firstresult=True)
def amlws_patch_model(definition: Definition, model: str, settings: Settings, selector: str | None) -> Definition | None:
    """Point a definition at a model reference, as this backend reads one (``amlws patch-model``).

    The backend-neutral patch step: ``model`` is the string the user gave, uninterpreted, for
    the backend to read as its own kind of model reference (a model version ``azureml:NAME:VERSION``,
    ``NAME@latest`` or an ARM id for an Azure ML v2 deployment; a blob URL for a Studio service).
    Purely local: nothing is sent.

    Optional: for a backend that implements only ``amlws_patch_ilearner``, the host reads ``model``
    as a ``.ilearner`` location (what ``patch-ilearner --uri`` takes, refusing an Azure ML model
    version) and calls that hook instead. Implement this one when your references are not blob URLs.

    firstresult: stops at the first non-None result.

    :param definition: an :class:`amlws.model.Definition` of this backend.
    :param model: the model reference exactly as given (``--model``).
    :param selector: which model to repoint when the definition holds several (``--asset``).
    :returns: a new :class:`amlws.model.Definition`; the input is not modified.
    :raises amlws.errors.UsageError: a reference this backend cannot take (exit 2).
    """


@hookspec(firstresult=True)
def amlws_model_reference(definition: Definition, settings: Settings) -> list[dict[str, str]] | None:
    """Say which trained models a definition points at (the reference ``amlws_patch_ilearner`` writes).

    Purely local. ``amlws history`` shows them per revision; ``amlws rollback`` uses them to
    make a fresh read SAS for a revision whose SAS history masked. Optional: without it,
    history shows no model and rollback needs ``--sas-token``.

    firstresult: stops at the first non-None result.

    :param definition: an :class:`amlws.model.Definition` of this backend (possibly from history,
        its secrets masked).
    :returns: a ``list`` of ``{"name", "selector", "uri"}`` dicts, one per trained model: a display
        name, what ``amlws_patch_ilearner``'s ``selector`` accepts for it, and the reference as the
        document holds it (a blob URL with its SAS, if any); ``[]`` when it points at none.
    """


@hookspec(firstresult=True)
def amlws_update(target: Target, definition: Definition, settings: Settings, live: Definition | None) -> UpdateResult | None:
    """Send a definition to the service, wait for it to apply, and verify it.

    The host reads the live definition once before an update (for the history entry and the
    changed-since-export check) and passes it as ``live``: use it instead of reading the
    service again. Implementations written before ``live`` existed may omit the argument
    (pluggy's opt-in arguments); ``live`` may be ``None`` when a caller has no live read.

    firstresult: stops at the first non-None result.

    :param target: the :class:`amlws.model.Target` to update.
    :param definition: the :class:`amlws.model.Definition` to send.
    :param live: the :class:`amlws.model.Definition` the host just read from ``target``
        (``amlws_get_definition``), or ``None``.
    :returns: an :class:`amlws.model.UpdateResult`.
    """


@hookspec(firstresult=True)
def amlws_check_same_service(definition: Definition, live: Definition, settings: Settings) -> str | None:
    """Say whether a definition describes the live service, or another one.

    ``amlws update`` refuses (exit 5, unless ``--force``) a definition that another service's
    export would give: sending it would retitle and rewire the live service. Compare what
    identifies a service in your format (e.g. the title and the graph's nodes and edges, or the
    workspace, web service and endpoint name).

    firstresult: stops at the first non-None result, so return ``""`` (not ``None``) for "the same service".

    :param definition: the :class:`amlws.model.Definition` about to be sent.
    :param live: the :class:`amlws.model.Definition` just read from the target.
    :returns: ``""`` when it is the same service, else a one-line summary of the difference
        (``"title 'A' vs the live 'B'; graph: 2 nodes, 1 edge differ"``).
    """


@hookspec(firstresult=True)
def amlws_plan_update(target: Target, definition: Definition, settings: Settings, live: Definition | None) -> list[dict[str, Any]] | None:
    """Describe the requests ``amlws_update`` would send, without sending them (``--what-if``).

    The plan must depend only on the arguments, never on which hooks ran before in this process.

    firstresult: stops at the first non-None result.

    :param target: the :class:`amlws.model.Target` that would be updated.
    :param definition: the :class:`amlws.model.Definition` that would be sent.
    :param live: the :class:`amlws.model.Definition` just read from ``target`` when the caller has it
        (plan only what differs from it), or ``None`` (the host checks the definition before it reads:
        plan every request the update may send). Optional argument (pluggy's opt-in arguments).
    :returns: a ``list`` of ``{"method", "url", "body"}`` dicts (secrets may be left in: the host redacts).
    """


@hookspec(firstresult=True)
def amlws_ensure_target(target: Target, settings: Settings, options: dict[str, Any]) -> dict[str, Any] | None:
    """Create the target when it does not exist (``amlws fleet run`` rows with ``create``).

    Optional for backends: one that cannot create targets returns ``None`` and the host
    reports that. A backend may, for instance, add a missing endpoint to its web service
    (``Add-AmlWebServiceEndpoint``).

    firstresult: stops at the first non-None result.

    :param target: the :class:`amlws.model.Target` that should exist.
    :param options: a ``dict`` of creation options, e.g. ``{"description": "rentalloc001"}``.
    :returns: a ``dict`` with ``created`` (``True`` when it was created now, ``False`` when it existed).
    """


@hookspec(firstresult=True)
def amlws_service_endpoints(target: Target, settings: Settings, include_key: bool, definition: Definition | None) -> ServiceEndpoints | None:
    """Say where a web service's BES and RRS live, and the API key they take.

    Lets ``amlws retrain``, ``amlws invoke`` and ``amlws jobs`` accept a web service target in
    place of URLs, and gives ``amlws retrain`` the scoring location (RRS URL and key) of the service it
    just updated, for its smoke test. Optional for backends: one without it leaves users to pass ``--url``.

    firstresult: stops at the first non-None result.

    :param target: an :class:`amlws.model.Target` this backend claimed.
    :param include_key: also return the service's API key (``False`` under ``--what-if``:
        do not read secrets that will not be used).
    :param definition: the live :class:`amlws.model.Definition` of ``target`` when the caller has
        just read it (use it instead of reading the service again), or ``None``.
    :returns: an :class:`amlws.model.ServiceEndpoints`.
    :raises amlws.errors.AmlwsError: when the service cannot say (e.g. it is not provisioned yet).
    """


@hookspec(firstresult=True)
def amlws_invoke(target: Target, settings: Settings, text: str, source: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """Score rows on a target that scores its own way (``amlws invoke TARGET``).

    Optional. Without it ``amlws invoke`` finds the target's RRS through ``amlws_service_endpoints``
    (Studio web services); a backend whose services score elsewhere (an online endpoint's
    ``scoringUri``, with its own credential and body format) answers here instead. Under
    ``settings.what_if`` return the planned request and send nothing. Never return or log a key.

    firstresult: stops at the first non-None result.

    :param target: an :class:`amlws.model.Target` this backend claimed.
    :param text: the input (``--input-file``, ``-`` = stdin, or ``--input-json``), unparsed: the
        backend reads its own format (e.g. CSV or an MLflow ``input_data`` body).
    :param source: where ``text`` came from, for error messages.
    :param options: the target-naming options as typed (``name`` -> value, unset ones ``None``),
        also when a TARGET string was given: e.g. a deployment to route to.
    :returns: a JSON-serialisable ``dict`` for ``amlws invoke`` to print (the predictions...).
    """


@hookspec(firstresult=True)
def amlws_deploy_model(target: Target, model: str, settings: Settings, host: Any, options: dict[str, Any]) -> dict[str, Any] | None:
    """Put a model on a target the backend's own way, when that is not "patch its live definition and
    update it" (``amlws fleet run`` rows with a ``model`` and no training).

    Optional. Return ``None`` (or do not implement it) and the host does the generic step: read the
    live definition, ``amlws_patch_model``, update through the change path. A backend answers here
    for a target that holds no model itself, e.g. an online endpoint whose traffic is split between
    deployments: a blue/green rollout to a new deployment. The change goes through
    :func:`amlws.safety.change.apply` with ``host`` (vetoes, history, observers).

    firstresult: stops at the first non-None result.

    :param model: the model reference exactly as given (as ``amlws_patch_model`` takes it).
    :param host: the :class:`amlws.host.Host` (for the change path).
    :param options: ``action`` (history's name for the change, e.g. ``fleet``) and ``note``.
    :returns: a ``dict`` with ``verified`` (bool) and ``modelUri`` (the reference deployed), or ``None``.
    """


@hookspec(firstresult=True)
def amlws_retrain(target: Target, request: RetrainJob, settings: Settings, host: Any) -> dict[str, Any] | None:
    """Retrain a target by running a training job of its own service (``amlws retrain TARGET --job-file|--from-job``).

    Optional. The whole loop the backend's way: upload local inputs, submit the job, wait (cancel it on
    ``request.timeout`` or Ctrl-C unless ``request.keep_job``), read its metrics, check ``request.gates``
    (:func:`amlws.gates.check_gates`: exit 5 and nothing registered or deployed), register the model,
    deploy it (``request.strategy``), smoke-score it. Every change goes through
    :mod:`amlws.safety.change` with ``host`` (vetoes, history; the deployment's entry carries the
    metrics). Under ``settings.what_if`` send nothing and return the plan. Ask ``request.confirm``
    before deploying; when it is ``None`` and ``settings.yes`` is false, refuse before training.

    firstresult: stops at the first non-None result.

    :param target: an :class:`amlws.model.Target` this backend claimed.
    :param request: an :class:`amlws.model.RetrainJob`.
    :param host: the :class:`amlws.host.Host` (for the change path).
    :returns: the ``amlws retrain`` result (``runId``, ``target``, ``backend``, ``status``, ``steps``,
        plus the backend's own fields); an error raised after a step completed carries the partial
        result in ``err.details["result"]``.
    """


# --- declarations (engineer C: summaries; target options and command groups are BackendInfo fields) ---


@hookspec(firstresult=True)
def amlws_summarize(definition: Definition, settings: Settings) -> dict[str, Any] | None:
    """Say which fields of a definition ``amlws get -o table`` shows (``-o json`` shows it whole).

    Optional for backends: without it the document's top-level scalar fields are shown. The host adds
    ``backend``, ``target`` and the trained models (``amlws_model_reference``) and masks secrets.

    firstresult: stops at the first non-None result.

    :param definition: an :class:`amlws.model.Definition` of this backend.
    :returns: a ``dict`` of short scalar fields, e.g. ``{"name": ..., "title": ..., "provisioningState": ...}``.
    """


# --- settings -------------------------------------------------------------------------


@hookspec
def amlws_settings() -> dict[str, str | Setting] | None:
    """Declare the settings this plugin reads, so that ``amlws config set NAME`` accepts them.

    Called on every plugin. ``amlws config set`` refuses a name that neither amlws
    (``amlws.config.KNOWN_KEYS``) nor a plugin declares (exit 2, with a "did you mean" hint):
    a misspelt setting saved silently would be ignored. ``amlws config show`` lists every declared
    setting that has a value; a secret one (``Setting(secret=True)``) is masked there, prompted for
    hidden by ``amlws config set NAME``, and redacted from logs and errors.

    :returns: ``{name: one-line description}``; a value may be an :class:`amlws.model.Setting`
        (``Setting("workspace token", secret=True)``) instead of a description.
    """


# --- CLI -----------------------------------------------------------------------------


@hookspec
def amlws_register_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``amlws`` CLI.

    Called once on every plugin before the CLI runs. Add a group with
    ``app.add_typer(typer.Typer(help=...), name="mygroup")`` or a top-level command with
    ``@app.command()``. Keep the module import-light: import SDKs inside the command.
    A backend puts its own commands in a group named after it and says so in
    ``BackendInfo.command_group`` (``amlws NAME ...``); the top level is for the commands every
    backend shares.

    :param app: the root ``typer.Typer`` application.
    """


# --- observers (called on every plugin) ---------------------------------------------


@hookspec
def amlws_before_update(target: Target, definition: Definition, settings: Settings, action: str) -> str | None:
    """Called before every remote change of every backend; may veto it.

    Every mutating command goes through the change path (:mod:`amlws.safety.change`): updates,
    rollbacks, retrain and fleet deployments, and also creating, removing and refreshing services
    and endpoints and adding regional properties. Not called under ``--what-if``.

    :param target: the :class:`amlws.model.Target` about to change.
    :param definition: the :class:`amlws.model.Definition` about to be sent (update, rollback,
        retrain, fleet, new; for ``endpoint-add`` the endpoint document sent); for a change that
        sends no definition (``remove``, ``endpoint-remove``, ``endpoint-refresh``, ``add-region``)
        the live definition it acts on.
    :param action: what the change is (history's name for it): ``update``, ``rollback``, ``retrain``,
        ``fleet``, ``new``, ``remove``, ``endpoint-add``, ``endpoint-remove``, ``endpoint-refresh``,
        ``add-region``, ``traffic``, ``rollout``. Optional (opt-in argument): leave it out to treat every change alike.
    :returns: ``None`` to allow, or a string giving the reason to veto (nothing is sent;
        amlws exits with the conflict code naming the plugin and the reason).
    """


@hookspec
def amlws_after_update(target: Target, result: UpdateResult, settings: Settings, action: str) -> None:
    """Called after every successful remote change (audit, notify): the changes
    ``amlws_before_update`` is asked about.

    :param target: the :class:`amlws.model.Target` that changed.
    :param result: the :class:`amlws.model.UpdateResult`; for a change that is not an update its
        ``definition`` is the state after it (for a delete: the definition that was removed) and
        ``details`` what history recorded of its outcome.
    :param action: what the change was (see ``amlws_before_update``); optional (opt-in argument).
    """


@hookspec
def amlws_after_retrain_job(job: dict[str, Any], settings: Settings) -> None:
    """Called after a BES training job reached a terminal state.

    :param job: a ``dict`` with ``jobId``, ``status``, ``results`` (SAS signatures redacted) and ``details``.
    """
