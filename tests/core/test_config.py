"""Settings: flags > AMLWS_* environment > profile; the config file; secrets."""

from __future__ import annotations

import os
import stat

import pytest

from amlws.config import (
    Settings,
    config_path,
    load_config_file,
    save_config_file,
    set_profile_value,
)
from amlws.errors import AuthError, ConfigError, UsageError
from amlws.redact import redact

pytestmark = pytest.mark.usefixtures("amlws_env")


def write_config(text: str):
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def test_precedence_flag_then_env_then_profile(monkeypatch):
    write_config('[profiles.default]\nsubscription = "from-profile"\nlocation = "West US"\n')
    settings = Settings.load(flags={"subscription": None})
    assert settings.get("subscription") == "from-profile"
    assert settings.source_of("subscription") == "profile:default"
    monkeypatch.setenv("AMLWS_SUBSCRIPTION", "from-env")
    settings = Settings.load(flags={"subscription": None})
    assert (settings.get("subscription"), settings.source_of("subscription")) == ("from-env", "env:AMLWS_SUBSCRIPTION")
    settings = Settings.load(flags={"subscription": "from-flag"})
    assert (settings.get("subscription"), settings.source_of("subscription")) == ("from-flag", "flag")
    assert settings.get("location") == "West US"
    assert settings.get("missing", "dflt") == "dflt" and settings.source_of("missing") is None


def test_env_aliases(monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "alias-sub")
    settings = Settings.load()
    assert settings.get("subscription") is None
    assert settings.get("subscription", env_aliases=("AZURE_SUBSCRIPTION_ID",)) == "alias-sub"
    assert settings.source_of("subscription", env_aliases=("AZURE_SUBSCRIPTION_ID",)) == "env:AZURE_SUBSCRIPTION_ID"


def test_default_profile_and_amlws_profile(monkeypatch):
    write_config('default_profile = "prod"\n[profiles.prod]\nworkspace = "w-prod"\n[profiles.test]\nworkspace = "w-test"\n')
    assert Settings.load().get("workspace") == "w-prod"
    monkeypatch.setenv("AMLWS_PROFILE", "test")
    assert Settings.load().profile == "test"
    assert Settings.load("prod").get("workspace") == "w-prod"


def test_missing_profile_is_a_clear_error(monkeypatch):
    write_config('[profiles.prod]\nworkspace = "w"\n')
    with pytest.raises(ConfigError) as info:
        Settings.load("staging")
    assert "profile 'staging' not found" in info.value.message and "(profiles: prod)" in info.value.message
    assert info.value.exit_code == 2
    monkeypatch.setenv("AMLWS_PROFILE", "staging")
    with pytest.raises(ConfigError, match="staging"):
        Settings.load()
    # config commands may name a profile that does not exist yet
    settings = Settings.load(require_profile=False)
    assert settings.profile == "staging" and not settings.profile_exists
    # the implicit default profile may always be missing
    monkeypatch.delenv("AMLWS_PROFILE")
    assert Settings.load().profile == "default"


def test_malformed_file_and_bad_profiles_table():
    write_config("not toml = = 1\n")
    with pytest.raises(ConfigError, match="malformed config file"):
        load_config_file()
    write_config('profiles = "x"\n')
    with pytest.raises(ConfigError, match=r"\[profiles.NAME\] tables expected"):
        load_config_file()


def test_missing_file_is_an_empty_config():
    assert load_config_file() == {}
    assert Settings.load().effective() == {}


def test_bom_is_tolerated():
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_bytes('\ufeff[profiles.default]\nworkspace = "w"\n'.encode("utf-8"))
    assert Settings.load().get("workspace") == "w"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_saved_config_is_0600_and_open_file_with_secrets_warns(amlws_log):
    path = save_config_file({"profiles": {"default": {"api_key": "k-1234567890"}}})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not amlws_log.records
    os.chmod(path, 0o644)
    load_config_file()
    assert f"run chmod 600 {path}" in amlws_log.text


def test_set_profile_value_validates_keys_and_keeps_others(amlws_log):
    with pytest.raises(UsageError, match="unknown setting 'workspace'"):  # a backend's setting: amlws alone does not know it
        set_profile_value("other", "workspace", "w2")
    set_profile_value("default", "resource-group", "rg1", known=["resource_group"])  # declared by a plugin
    set_profile_value("other", "workspace", "w2", known=["workspace"])
    assert load_config_file() == {"profiles": {"default": {"resource_group": "rg1"}, "other": {"workspace": "w2"}}}
    with pytest.raises(UsageError, match="invalid setting name"):
        set_profile_value("default", "bad key!", "x")
    with pytest.raises(UsageError) as exc:
        set_profile_value("default", "subscriptoin", "abc")
    assert exc.value.message == "unknown setting 'subscriptoin'"
    assert exc.value.hint == "did you mean subscription? amlws config show lists the settings"
    set_profile_value("default", "my_plugin_thing", "x", known=["my_plugin_thing"])  # declared by a plugin
    set_profile_value("default", "resource_group", None)
    assert load_config_file()["profiles"]["default"] == {"my_plugin_thing": "x"}


def test_config_set_refuses_an_unknown_setting_but_takes_a_plugins(run_cli, make_pm):
    """``config set subscriptoin abc`` used to warn and save the typo (exit 0); a setting a plugin
    declares (``amlws_settings``: arm's poll_interval) stays settable."""
    import amlws.plugins.arm as arm
    from amlws.config import config_path

    code, out, err = run_cli(["config", "set", "subscriptoin", "abc"], make_pm((arm, "arm")))
    assert code == 2 and out == ""
    assert err == "error: unknown setting 'subscriptoin' (fix: did you mean subscription? amlws config show lists the settings)\n"
    assert not config_path().exists()
    code, out, err = run_cli(["config", "set", "poll_interval", "0.5", "-o", "json"], make_pm((arm, "arm")))
    assert code == 0, err
    assert load_config_file() == {"profiles": {"default": {"poll_interval": "0.5"}}}
    code, out, err = run_cli(["config", "set", "poll_interval", "0.5"], make_pm())  # no plugin declares it
    assert code == 2 and "unknown setting 'poll_interval'" in err


def test_profile_secrets_are_registered_for_redaction():
    write_config('[profiles.default]\nworkspace_token = "wt-abcdef123456"\nworkspace = "plainvalue1"\n')
    Settings.load()
    assert redact("token wt-abcdef123456 for plainvalue1") == "token *** for plainvalue1"


def test_env_secrets_are_registered_when_read(monkeypatch):
    monkeypatch.setenv("AMLWS_API_KEY", "env-key-0987654321")
    assert Settings.load().get("api_key") == "env-key-0987654321"
    assert redact("key=env-key-0987654321") == "key=***"


def test_require(monkeypatch):
    settings = Settings.load()
    with pytest.raises(UsageError) as info:
        settings.require("workspace", hint="amlws config set workspace ID")
    assert info.value.message == "no workspace configured" and info.value.hint == "amlws config set workspace ID"
    with pytest.raises(AuthError, match="no api key configured"):
        settings.require("api_key", hint="set AMLWS_API_KEY", secret=True)
    monkeypatch.setenv("AMLWS_WORKSPACE", "w1")
    assert Settings.load().require("workspace", hint="-") == "w1"


def test_require_prompts_for_a_secret_only_on_a_terminal(monkeypatch):
    import getpass

    monkeypatch.setattr(getpass, "getpass", lambda prompt: "typed-secret-123")
    settings = Settings.load(interactive=True)
    assert settings.require("api_key", hint="-", secret=True) == "typed-secret-123"
    assert redact("typed-secret-123") == "***"
    with pytest.raises(AuthError):
        Settings.load(interactive=False).require("api_key", hint="-", secret=True)


def test_timeout_setting():
    assert Settings(flags={"timeout": 12}).timeout() == 12.0
    assert Settings(env={"AMLWS_TIMEOUT": "2.5"}).timeout() == 2.5
    assert Settings(env={}).timeout(7) == 7
    with pytest.raises(ConfigError, match="invalid timeout 'soon'"):
        Settings(env={"AMLWS_TIMEOUT": "soon"}).timeout()


def test_effective_masks_secrets_and_names_sources(monkeypatch):
    write_config('[profiles.default]\nclient_secret = "cs-123456789"\ntenant = "t1"\n')
    monkeypatch.setenv("AMLWS_ARM_TOKEN", "tok-abcdefghij")
    eff = Settings.load(flags={"timeout": 5}).effective()
    assert eff == {
        "arm_token": {"value": "***", "source": "env:AMLWS_ARM_TOKEN"},
        "client_secret": {"value": "***", "source": "profile:default"},
        "tenant": {"value": "t1", "source": "profile:default"},
        "timeout": {"value": 5, "source": "flag"},
    }
