"""Docs are tested: every hook has a reference section (with a runnable example), every exit code is in the README."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from amlws import hookspecs
from amlws.errors import ExitCode
from amlws.host import get_plugin_manager

REPO = Path(__file__).resolve().parents[2]
PLUGINS_MD = REPO / "docs" / "plugins.md"
README = REPO / "README.md"

HEADING = re.compile(r"^## (amlws_\w+)\((.*)\)\s*$", re.MULTILINE)
CODE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def spec_hooks() -> dict[str, list[str]]:
    """Hook name -> argument names, from the spec module and as the host registers them."""
    pm = get_plugin_manager(load_entrypoints=False)
    names = {n for n in dir(pm.hook) if n.startswith("amlws_")}
    module = {n for n, f in vars(hookspecs).items() if n.startswith("amlws_") and callable(f)}
    assert names == module
    return {n: list(inspect.signature(getattr(hookspecs, n)).parameters) for n in sorted(names)}


def documented() -> dict[str, list[str]]:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for name, args in HEADING.findall(text):
        out[name] = [a.strip() for a in args.split(",") if a.strip()]
    return out


def sections() -> dict[str, str]:
    """Hook name -> the text of its section (up to the next heading of level 2 or 3)."""
    text = PLUGINS_MD.read_text(encoding="utf-8")
    out = {}
    for match in HEADING.finditer(text):
        rest = text[match.end():]
        end = re.search(r"^#{2,3} ", rest, re.MULTILINE)
        out[match.group(1)] = rest[: end.start()] if end else rest
    return out


@pytest.mark.parametrize("hook", sorted(spec_hooks()))
def test_every_hook_has_a_reference_section_with_its_arguments(hook):
    docs = documented()
    assert hook in docs, f"docs/plugins.md has no '## {hook}(...)' section"
    assert docs[hook] == spec_hooks()[hook], f"the heading of {hook} does not list the spec's arguments"


def typed_signature(hook: str) -> str:
    """``amlws_x(arg: Type, ...) -> Return`` from the spec's annotations (strings: the spec module
    has ``from __future__ import annotations``)."""
    sig = inspect.signature(getattr(hookspecs, hook))
    args = ", ".join(f"{name}: {p.annotation}" for name, p in sig.parameters.items())
    return f"{hook}({args}) -> {sig.return_annotation}"


@pytest.mark.parametrize("hook", sorted(spec_hooks()))
def test_every_hook_section_starts_with_the_spec_typed_signature(hook):
    body = sections().get(hook)
    if body is None:
        pytest.fail(f"no section for {hook}")
    first = body.strip().splitlines()[0]
    assert first == f"`{typed_signature(hook)}`", f"the section of {hook} must start with the line `{typed_signature(hook)}`"


def test_no_section_for_a_hook_that_does_not_exist():
    assert sorted(set(documented()) - set(spec_hooks())) == []


def test_every_hook_section_has_an_example():
    for hook, body in sections().items():
        assert CODE.search(body), f"the section of {hook} has no python example"


def preamble() -> str:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    start = text.index("## Hook reference")
    first_hook = HEADING.search(text, start).start()
    blocks = CODE.findall(text[start:first_hook])
    assert len(blocks) == 1, "the hook reference starts with one set-up block"
    return blocks[0]


@pytest.mark.parametrize("hook", sorted(spec_hooks()))
def test_hook_examples_run(hook, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AMLWS_CONFIG_DIR", str(tmp_path))
    namespace: dict[str, object] = {"__name__": f"docs_example_{hook}"}
    exec(compile(preamble(), "docs/plugins.md:set-up", "exec"), namespace)
    body = sections().get(hook)
    if body is None:
        pytest.fail(f"no section for {hook}")
    for i, block in enumerate(CODE.findall(body)):
        exec(compile(block, f"docs/plugins.md:{hook}[{i}]", "exec"), namespace)


def test_kill_switches_are_documented():
    text = PLUGINS_MD.read_text(encoding="utf-8")
    for needle in ("AMLWS_LOAD_PLUGINS", "AMLWS_DISABLE_PLUGINS", "## Testing your plugin", "## Tutorial"):
        assert needle in text


def readme_exit_codes() -> dict[int, str]:
    if not README.is_file():
        pytest.fail("README.md is missing: it must document the exit codes")
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`?([A-Z_]+)`?\s*\|", README.read_text(encoding="utf-8"), re.MULTILINE)
    return {int(code): name for code, name in rows}


def test_every_exit_code_is_in_the_readme_table():
    table = readme_exit_codes()
    for member in ExitCode:
        assert table.get(int(member)) == member.name, f"README.md has no row '| {int(member)} | {member.name} | ...'"
    assert set(table) == {int(m) for m in ExitCode}, "the README table lists an exit code amlws does not have"


def test_retraining_walkthrough_uses_the_container_it_uploads_to():
    """Followed from the top, docs/retraining.md's blob references name the container `blob upload`
    answers with: the default one, unless the page really sets another (a commented-out or
    "optional" setting does not count), so step 2 finds step 1's data (not ContainerNotFound)."""
    from amlws.azure.blob import DEFAULT_CONTAINER

    text = (REPO / "docs" / "retraining.md").read_text(encoding="utf-8")
    set_to = [m.group(1) for m in re.finditer(r"^amlws config set storage_container (\S+)(.*)$", text, flags=re.MULTILINE)
              if "optional" not in m.group(2)]
    container = set_to[0] if set_to else DEFAULT_CONTAINER
    answered = re.findall(r'"container": "([^"]+)"', text)
    refs = re.findall(r"(?:--input-blob|--output-blob)\s+\w+=([^/\s]+)/", text)
    refs += re.findall(r'"RelativeLocation": "([^/"]+)/', text)
    assert answered and refs
    assert set(answered) == {container} and set(refs) == {container}, (container, answered, refs)


def test_readme_says_which_http_model_urls_need_no_allow_http():
    """The README names the loopback hosts whose http:// model URL passes without --allow-http
    (the emulator, Azurite), as docs/safety.md does; each one it names does pass, another host does not."""
    from amlws.errors import UsageError
    from amlws.model import ModelLocation

    text = " ".join(README.read_text(encoding="utf-8").split())
    sentence = re.search(r"A plain `http://` model URL is refused.{0,200}?is accepted without it", text)
    assert sentence, "README does not say which http:// model URLs are accepted without --allow-http"
    hosts = re.findall(r"`([^`]+)`", sentence.group(0).split("loopback", 1)[1])
    assert set(hosts) == {"localhost", "127.x.x.x", "::1"}
    for host in ("localhost", "127.0.0.1", "[::1]"):
        ModelLocation.from_uri(f"http://{host}:10000/devstoreaccount1/models/m.ilearner?sp=r&sig=x").check_scheme()
    with pytest.raises(UsageError):
        ModelLocation.from_uri("http://acct.blob.core.windows.net/models/m.ilearner?sp=r&sig=x").check_scheme()


def test_readme_describes_the_tsv_key_order_to_tsv_uses():
    """README: tsv prints an object's values sorted by key name, uppercase before lowercase."""
    from amlws.output import to_tsv

    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "an object's values sorted by key name (alphabetically, as Python sorts strings: uppercase before lowercase" in text
    assert to_tsv({"b": 2, "a": 1, "Z": 0}) == "0\t1\t2\n"
