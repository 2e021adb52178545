"""``direct``: the behaviour's goal, sent as the user message."""

from __future__ import annotations

from redline.attacks.base import StaticAttack


class Direct(StaticAttack):
    """Send the behaviour as it is. One target query per attempt."""

    name = "direct"
    description = "the behaviour's goal sent as is"
    query_cost = "1"
