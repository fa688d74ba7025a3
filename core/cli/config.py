"""``amlws config``: show and change settings (profiles in the config file)."""

from typing import Annotated

import typer

from ..errors import UsageError
from .application import get_context
from .definitions import _table


def config_show() -> None:
    """Show the effective settings and where each comes from (secrets masked).

    Examples:
        Settings of the default profile and of another
            amlws config show
            amlws --profile prod config show -o json
    """
    from ..config import config_path

    ctx = get_context()
    if not ctx.settings.profile_exists and ctx.settings.profile != "default":
        from ..errors import ConfigError

        raise ConfigError(
            f"profile {ctx.settings.profile!r} not found in {config_path()}",
            hint=f"create it with: amlws --profile {ctx.settings.profile} config set KEY VALUE",
        )
    data = {"profile": ctx.settings.profile, "path": str(config_path()), "settings": ctx.settings.effective(ctx.host.settings_declared())}
    ctx.emit(data, table=lambda d: _table([{"setting": k, **v} for k, v in d["settings"].items()]))


def config_set(
    key: Annotated[str, typer.Argument(help="Setting name, e.g. subscription, api_key, or one a plugin declares (amlws config show lists them).")],
    value: Annotated[str | None, typer.Argument(help="Value; omit for secrets to be prompted for.")] = None,
) -> None:
    """Set a setting in the current profile (--profile). Secrets: omit VALUE to type it hidden.

    Examples:
        Set the default subscription; type a secret hidden
            amlws config set subscription 00000000-0000-0000-0000-000000000000
            amlws config set api_key
    """
    from ..config import check_setting_name, set_profile_value

    ctx = get_context()
    known = ctx.host.settings_declared()
    key = check_setting_name(key, known=known)
    if ctx.settings.what_if:
        from ..config import config_path

        ctx.emit({"whatIf": True, "profile": ctx.settings.profile, "key": key, "wouldWrite": str(config_path())})
        return
    if value is None:
        if not ctx.settings.is_secret(key) or not ctx.settings.interactive:
            raise UsageError(f"no value given for {key}", hint=f"amlws config set {key} VALUE")
        import getpass

        value = getpass.getpass(f"{key}: ")
    path = set_profile_value(ctx.settings.profile, key, value, known=known)
    ctx.emit({"profile": ctx.settings.profile, "key": key, "path": str(path)})


def config_unset(key: Annotated[str, typer.Argument(help="Setting name.")]) -> None:
    """Remove a setting from the current profile.

    Examples:
        Forget the stored API key of profile prod
            amlws --profile prod config unset api_key
    """
    from ..config import config_path, set_profile_value

    ctx = get_context()
    if ctx.settings.what_if:
        ctx.emit({"whatIf": True, "profile": ctx.settings.profile, "key": key, "wouldWrite": str(config_path())})
        return
    path = set_profile_value(ctx.settings.profile, key, None)
    ctx.emit({"profile": ctx.settings.profile, "key": key, "path": str(path), "removed": True})


def config_path_cmd() -> None:
    """Print the config file's path.

    Examples:
        Print the path; show the file
            amlws config path
            cat "$(amlws config path)"
    """
    from ..config import config_path

    typer.echo(str(config_path()))


def register(app: typer.Typer) -> None:
    """Add the ``config`` group to ``app``."""
    config_app = typer.Typer(help="Show and change amlws settings (profiles in the config file).\n\nExamples:\n    Set a value in profile prod, then show where each setting comes from\n        amlws --profile prod config set subscription SUB\n        amlws --profile prod config show", no_args_is_help=True)
    config_app.command("show")(config_show)
    config_app.command("set")(config_set)
    config_app.command("unset")(config_unset)
    config_app.command("path")(config_path_cmd)
    app.add_typer(config_app, name="config")
