"""The quick campaign behind a bare ``redline scan``: small, representative, a few minutes."""

from __future__ import annotations

import copy
from typing import Any

from redline.config import DEFAULT_JUDGE, Campaign, parse_campaign

QUICK_PER_CATEGORY = 2
QUICK_MAX_TOKENS = 64


def quick_campaign(target: dict[str, Any]) -> Campaign:
    """Build the quick campaign against ``target``.

    Two harmful behaviours per core category with their benign look-alikes; ``direct`` and two
    templates (fiction, refusal suppression); the default judge (``config.DEFAULT_JUDGE``).

    Encoding attacks (base64) are left out to keep it short: a small model answers them by
    echoing or garbling the encoded text (the ``harm`` judge calls that safe and not refused).
    """
    target = {"params": {"temperature": 0, "max_tokens": QUICK_MAX_TOKENS}, **target}
    return parse_campaign(
        {
            "name": "quick",
            "target": target,
            "behaviors": [{"builtin": "core", "per_category": QUICK_PER_CATEGORY}],
            "attacks": [
                "direct",
                {"name": "template", "style": "fiction"},
                {"name": "template", "style": "refusal_suppression"},
            ],
            "judges": [copy.deepcopy(DEFAULT_JUDGE)],
            "limits": {"concurrency": 4, "timeout_s": 120},
            "seed": 0,
        },
        "quick campaign",
    )
