"""Alert channel configuration: which ``RELIABILITY_ALERT_*_URL`` variables are set, and whether each is a
valid apprise URL. Kept apart from ``alerts`` (SQLAlchemy) so the code location can validate channels when
it loads without importing the store; apprise is imported only when a channel is configured.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from reliability_assets.resources.redaction import RedactedMessage

if TYPE_CHECKING:
    from apprise import AppriseAsset
    from apprise.plugins.base import NotifyBase

__all__ = ["ENV_VARS", "AlertConfigError", "channels_from_env", "plugin", "validate_channels"]

ENV_VARS = {
    "slack": "RELIABILITY_ALERT_SLACK_URL",
    "teams": "RELIABILITY_ALERT_TEAMS_URL",
    "email": "RELIABILITY_ALERT_EMAIL_URL",
    "webhook": "RELIABILITY_ALERT_WEBHOOK_URL",
}
_EXAMPLES = {
    "slack": "slack://TokenA/TokenB/TokenC or https://hooks.slack.com/services/...",
    "teams": "workflows://... or the https://... URL of a Power Automate 'post to a channel' workflow",
    "email": "mailtos://user:password@smtp.example.com?to=oncall@example.com",
}
_CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")  # apprise reads ':' in a tag as priority/retry


class AlertConfigError(RedactedMessage, ValueError):
    """A wrong channel URL: the message names the variable (or channel) and the fix."""


def channels_from_env() -> dict[str, str]:
    """The channels whose ``RELIABILITY_ALERT_*_URL`` variable is set: name -> URL."""
    values = {name: os.environ.get(var, "").strip() for name, var in ENV_VARS.items()}
    return {name: url for name, url in values.items() if url}


def validate_channels(channels: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Check channel URLs (None: the ``RELIABILITY_ALERT_*_URL`` variables) without sending anything;
    returns the channel names. Raises ``AlertConfigError`` naming the variable and the fix: the code
    location calls this when it loads, so a wrong URL stops it there, not in a sensor tick later."""
    from_env = channels is None
    urls = channels_from_env() if channels is None else dict(channels)
    if not urls:
        return ()
    import apprise  # 0.2 s with its plugins: only when a channel is configured

    asset = apprise.AppriseAsset(service_timeout=5.0)
    for name, url in urls.items():
        plugin(name, url, asset, 5.0, ENV_VARS.get(name, name) if from_env else f"alert channel {name!r}")
    return tuple(urls)


def plugin(name: str, url: str, asset: AppriseAsset, timeout_s: float, where: str) -> NotifyBase:
    """The apprise service for one channel, or an error naming where the URL came from and the fix."""
    import apprise

    if not _CHANNEL_NAME.fullmatch(name):
        raise AlertConfigError(f"{where}: a channel name is lowercase letters, digits, '_' or '-'")
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("http", "https") and name not in _EXAMPLES:  # a plain webhook: POST the alert as JSON
        parts = urlsplit(url)
        query = urlencode([(f"-{k}", v) for k, v in parse_qsl(parts.query, keep_blank_values=True)])
        json_scheme = "jsons" if scheme == "https" else "json"
        url = urlunsplit((json_scheme, parts.netloc, parts.path or "/", query, ""))
    reason = ""
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        try:
            plugin = apprise.Apprise.instantiate(url, asset=asset, tag=name, suppress_exceptions=False)
        except Exception as error:
            plugin, reason = None, str(error)
    if plugin is None:
        reason = reason or captured.getvalue().strip().replace("\n", "; ") or "not recognised"
        reason = reason.replace(url, "<the URL>")  # a URL carries tokens: never echo it
        if scheme == "msteams":
            reason += " (apprise 2 dropped msteams://: Microsoft retired Office 365 connectors)"
        example = _EXAMPLES.get(name, "https://host/path (gets JSON), json://host/path or form://host/path")
        raise AlertConfigError(
            f"{where} (a {scheme or 'schemeless'} URL of {len(url)} characters) is not a valid apprise URL: "
            f"{reason}. Fix: set it to an apprise URL such as {example}, or unset it."
        )
    given = {key.lower() for key, _ in parse_qsl(urlsplit(url).query)}
    if "cto" not in given:  # apprise's defaults are 4 s (15 s for e-mail) connect, 4 s per read
        plugin.socket_connect_timeout = timeout_s
    if "rto" not in given:
        plugin.socket_read_timeout = timeout_s
    return plugin
