"""The redline web app (``redline serve``): runs, figures, every attempt, labelling, playground.

A Starlette application with server-rendered Jinja templates over the same results store as the
CLI. Pages are plain HTML; the little JavaScript there is (labelling keys, the playground) lives
in ``static/`` and is loaded from the app's own origin: the Content-Security-Policy forbids
inline scripts, so model output shown on a page can never run. See ``docs/webapp.md``.
"""

from redline.web.app import create_app
from redline.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
