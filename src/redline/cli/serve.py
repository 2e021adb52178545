"""``redline serve``: the web app over a results store."""

from __future__ import annotations

import os
import secrets

import click

from redline.cli import db_option, user_errors


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--read-only",
    is_flag=True,
    help="Turn labelling and the playground off: nothing can be changed from the browser.",
)
@click.option(
    "--token-env",
    metavar="VAR",
    help="Environment variable holding the access token. Required on any interface but "
    "127.0.0.1 (a random one is made and printed when not given); optional on 127.0.0.1.",
)
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False),
    help="Campaign file whose target and judges the playground uses "
    "[default: the embedded model and the default judge, as `redline scan`].",
)
@click.option(
    "--target", "target_url", metavar="URL", help="Playground target: OpenAI-compatible base URL."
)
@click.option("--model", help="Model name at --target.")
@click.option("--api-key-env", metavar="VAR", help="Environment variable with --target's API key.")
@click.option(
    "--behaviors-file",
    type=click.Path(dir_okay=False),
    default="behaviors.playground.jsonl",
    show_default=True,
    help="JSONL file the playground appends saved prompts to, as new behaviours.",
)
@click.option("--labeller", help="Your name on the labels you make [default: $USER].")
@db_option
@user_errors
def serve(
    host: str,
    port: int,
    read_only: bool,
    token_env: str | None,
    config: str | None,
    target_url: str | None,
    model: str | None,
    api_key_env: str | None,
    behaviors_file: str,
    labeller: str | None,
    db: str | None,
) -> None:
    """Serve the web app: runs, figures, every attempt, labelling, the playground.

    \b
    Open the printed address in a browser. Pages: Runs (compare two runs), a run's
    overview (click a heat-map cell for its attempts), the attempts explorer (filters,
    search), transcripts, labelling (keyboard shortcuts) and the playground (red-team a
    target by hand). Listens on 127.0.0.1 only unless --host says otherwise; then an
    access token is required. See docs/webapp.md.
    """  # noqa: D301 (a real backspace: click's marker for a paragraph kept as written)
    from pathlib import Path

    import uvicorn

    from redline.cli.scan import _campaign
    from redline.errors import ConfigError
    from redline.web import WebSettings, create_app
    from redline.web.settings import is_loopback

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise ConfigError(f"--token-env {token_env}: that environment variable is not set")
    elif not is_loopback(host):
        token = secrets.token_urlsafe(24)
    campaign = _campaign(config, target_url, model, api_key_env)
    settings = WebSettings(
        db=db,
        host=host,
        port=port,
        read_only=read_only,
        token=token,
        labeller=labeller or os.environ.get("USER") or "anonymous",
        campaign=campaign,
        behaviors_file=Path(behaviors_file),
    )
    app = create_app(settings)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/"
    if token is not None:
        click.secho(
            f"access token required: open {url}?token={token}"
            + ("" if is_loopback(host) else f" (listening on {host}, not only this machine)"),
            fg="yellow",
        )
    else:
        click.echo(f"redline web app: {url}  (this machine only; Ctrl-C stops it)")
    if read_only:
        click.echo("read-only: labelling and the playground are off")
    uvicorn.run(app, host=host, port=port, log_level="warning")
