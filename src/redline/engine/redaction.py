"""The secret values a run's config resolves to, for the store to redact.

Secrets come from the environment (``api_key_env``, ``${NAME}`` in header values) or sit in a
URL; only their names (or a redacted URL) are in the stored config. At run time their values
are handed to the store (:meth:`redline.store.Store.add_secrets`), which takes them out of
everything it writes: call errors echoing request headers, transcripts, verdicts.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Iterable
from typing import Any

from redline.config import Campaign
from redline.engine.runner import NamedJudge
from redline.judges import ModelJudge, sub_judges
from redline.targets._http import ENV_REF


def target_secrets(spec: dict[str, Any]) -> set[str]:
    """The secret values a target spec resolves to.

    The value of the ``api_key_env`` variable; the values of the ``${NAME}`` variables used in
    header values; a literal value written in the config for a header named like a credential
    (authorization, key, token, secret, cookie, session, password; 8 characters or more); the
    credentials of a URL option (``base_url``, ``url``): the password (or a
    user name given alone, a token) and the Basic credentials a client derives from them;
    the value of a query parameter named like a key or token; and the same for a model spec
    nested in ``model`` or ``params.model`` (an application around a model).
    """
    found: set[str] = set()
    env_name = spec.get("api_key_env")
    if isinstance(env_name, str) and os.environ.get(env_name):
        found.add(os.environ[env_name])
    headers = spec.get("headers")
    if isinstance(headers, dict):
        for header, value in headers.items():
            names = ENV_REF.findall(str(value))
            for name in names:
                if os.environ.get(name):
                    found.add(os.environ[name])
            if not names and _secret_header(str(header)) and len(str(value)) >= MIN_LITERAL:
                found |= _literal_secrets(str(value))
    for key in ("base_url", "url"):
        url = spec.get(key)
        if isinstance(url, str):
            found |= _url_secrets(url)
    params = spec.get("params")
    # the model inside an ``app`` target, or given to a python app in its params
    for inner in (spec.get("model"), params.get("model") if isinstance(params, dict) else None):
        if isinstance(inner, dict):
            found |= target_secrets(inner)
    return found


SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "session", "password")
MIN_LITERAL = 8
"""A literal value shorter than this is not taken as a secret (it would redact common words)."""


def _secret_header(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_HEADER_WORDS)


def _literal_secrets(value: str) -> set[str]:
    """A literal secret header value, and its token after a scheme (``Bearer sk-...``)."""
    found = {value}
    scheme, _, token = value.partition(" ")
    if token and scheme.isalpha() and len(token) >= MIN_LITERAL:
        found.add(token)
    return found


def _url_secrets(url: str) -> set[str]:
    try:
        parts = urllib.parse.urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return set()
    found = set()
    if password:
        found |= {password, urllib.parse.unquote(password)}
    elif user:
        found |= {user, urllib.parse.unquote(user)}
    if user is not None or password is not None:
        plain = f"{urllib.parse.unquote(user or '')}:{urllib.parse.unquote(password or '')}"
        found.add(base64.b64encode(plain.encode()).decode())
    for name, value in urllib.parse.parse_qsl(parts.query):
        if value and any(word in name.lower() for word in ("key", "token", "secret", "sig")):
            found.add(value)
    return found


def campaign_secrets(campaign: Campaign, judges: Iterable[NamedJudge] = ()) -> set[str]:
    """Every secret value the campaign's models resolve to (target, attacker, scorer, judges)."""
    specs = [campaign.target, campaign.attacker, campaign.scorer]
    specs += judge_model_specs(judges)
    found: set[str] = set()
    for spec in specs:
        if spec is not None:
            found |= target_secrets(spec)
    return found


def judge_model_specs(judges: Iterable[NamedJudge]) -> list[dict[str, Any]]:
    """The target specs of the models the judges ask (members of ensembles included)."""
    return [
        judge.options.model
        for named in judges
        for judge in sub_judges(named.judge)
        if isinstance(judge, ModelJudge) and isinstance(judge.options.model, dict)
    ]


def judge_secrets(judges: Iterable[NamedJudge]) -> set[str]:
    """Every secret value the judges' models resolve to."""
    found: set[str] = set()
    for spec in judge_model_specs(judges):
        found |= target_secrets(spec)
    return found
