"""Secret redaction: shapes (sig=, bearer, AccountKey, key fields) and registered values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlws.redact import MASK, redact, redact_obj, redact_sas, register_secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://a.blob.core.windows.net/c/m.ilearner?sv=2020-08-04&sr=b&sig=abc%2Bdef%3D&se=2030",
         "https://a.blob.core.windows.net/c/m.ilearner?sv=2020-08-04&sr=b&sig=***&se=2030"),
        ("Authorization: Bearer eyJ0eXAi.eyJhdWQi.sIgNaTuRe", "Authorization: Bearer ***"),
        ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFy==;EndpointSuffix=core.windows.net",
         "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;EndpointSuffix=core.windows.net"),
        ("BlobEndpoint=x;SharedAccessSignature=sv=1&sig=2", "BlobEndpoint=x;SharedAccessSignature=***"),
        # the ')' that closes a hint is not part of the secret (base64 has no ')'): issue 12
        ("error: no storage (fix: set AMLWS_STORAGE_CONNECTION_STRING=AccountName=a;AccountKey=Zm9v+YmFy/Kw==)",
         "error: no storage (fix: set AMLWS_STORAGE_CONNECTION_STRING=AccountName=a;AccountKey=***)"),
        ("(fix: ... AccountKey=...)", "(fix: ... AccountKey=***)"),
        ("(uri https://a/c/b?sv=1&sig=abc%2Bdef%3D) failed", "(uri https://a/c/b?sv=1&sig=***) failed"),
        ("(BlobEndpoint=x;SharedAccessSignature=sv=1&sig=2)", "(BlobEndpoint=x;SharedAccessSignature=***)"),
        ('{"PrimaryKey": "pk-value", "SecondaryKey":"sk", "Name": "svc"}',
         '{"PrimaryKey": "***", "SecondaryKey":"***", "Name": "svc"}'),
        ('{"keys": {"primary": "p1", "secondary": "s1"}}', '{"keys": {"primary": "***", "secondary": "***"}}'),
        ("{'api_key': 'abc', 'region': 'x'}", "{'api_key': '***', 'region': 'x'}"),
        ("x-ms-metaanalytics-authorizationtoken: tok123456789", "x-ms-metaanalytics-authorizationtoken: ***"),
        ("nothing secret here", "nothing secret here"),
        ("", ""),
    ],
)
def test_secret_shapes_are_masked(text, expected):
    assert redact(text) == expected


def test_registered_values_are_masked_everywhere_longest_first():
    register_secret("abcdef-secret-1")
    register_secret("abcdef-secret-12345")
    assert redact("a abcdef-secret-12345 b abcdef-secret-1 c") == "a *** b *** c"


def test_short_or_empty_values_are_not_registered():
    register_secret("abc")
    register_secret(None)
    register_secret("")
    assert redact("abc abcd") == "abc abcd"


def test_redact_obj_masks_secret_fields_and_keeps_sas_expiry_readable():
    doc = {
        "properties": {
            "keys": {"primary": "p-123", "secondary": "s-123"},
            "storageAccount": {"name": "acct", "key": "k=="},
            "assets": {"a": {"locationInfo": {"uri": "https://a/c/m.ilearner?sv=1&sp=r&se=2030-01-01&sig=XYZ"}}},
        },
        "Results": {"out": {"SasBlobToken": "?sv=1&sp=r&se=2030-01-01&sig=XYZ", "BaseLocation": "https://a/"}},
        "list": [{"password": "pw"}, 3, None],
    }
    out = redact_obj(doc)
    assert out == {
        "properties": {
            "keys": {"primary": MASK, "secondary": MASK},
            "storageAccount": {"name": "acct", "key": MASK},
            "assets": {"a": {"locationInfo": {"uri": "https://a/c/m.ilearner?sv=1&sp=r&se=2030-01-01&sig=***"}}},
        },
        "Results": {"out": {"SasBlobToken": "?sv=1&sp=r&se=2030-01-01&sig=***", "BaseLocation": "https://a/"}},
        "list": [{"password": MASK}, 3, None],
    }
    assert doc["properties"]["keys"]["primary"] == "p-123"  # the input is not modified


def test_redact_sas():
    assert redact_sas("?sv=1&sig=abc&se=2") == "?sv=1&sig=***&se=2"


SAS_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%+/=-_.~"


@given(st.text(alphabet=SAS_ALPHABET, min_size=1, max_size=60))
def test_any_sas_signature_is_masked(signature):
    text = f"https://acct.blob.core.windows.net/c/b?sv=2020&sig={signature}&se=2030"
    assert redact(text) == "https://acct.blob.core.windows.net/c/b?sv=2020&sig=***&se=2030"


def test_the_connection_string_hint_keeps_its_closing_parentheses():
    """The hint amlws prints for a missing storage connection string, through the CLI's redaction."""
    from amlws.azure.blob import CONNECTION_STRING_HINT

    line = redact(f"error: no storage connection string (fix: {CONNECTION_STRING_HINT})")
    assert line.endswith("AccountName=...;AccountKey=***))")


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", min_size=1, max_size=88))
def test_any_account_key_is_masked_up_to_a_closing_parenthesis(key):
    assert redact(f"(fix: AccountName=a;AccountKey={key}) more") == "(fix: AccountName=a;AccountKey=***) more"
