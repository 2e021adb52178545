"""``redline testserver``: the OpenAI-compatible test server, for dry runs and benchmarks."""

from __future__ import annotations

import click

from redline.cli import user_errors


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--mode",
    type=click.Choice(["echo", "fixed", "refuse", "script"]),
    default="refuse",
    show_default=True,
    help="How replies are made (see the modes above).",
)
@click.option("--reply", help="The reply in fixed mode (and script mode's default).")
@click.option(
    "--refuse-keyword",
    "refuse_keywords",
    multiple=True,
    help="Refuse prompts containing this word (refuse mode; repeatable) "
    "[default: bomb, weapon, kill].",
)
@click.option(
    "--rule",
    "rules",
    multiple=True,
    metavar="REGEX=REPLY",
    help="A script-mode rule (repeatable; first match wins).",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False),
    help="A YAML file of script-mode rules, which may also script tool calls (see "
    "docs/apps.md); its rules come before any --rule.",
)
@click.option("--latency-ms", default=0.0, show_default=True, type=float)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="KIND=RATE",
    help="Inject a fault at random: KIND is 429, 500, timeout, malformed, empty, garbage, "
    "surrogate (a lone UTF-16 surrogate in the reply), echo_headers (a 401 echoing the "
    "request headers) or flood (a 256 MiB body).",
)
@click.option(
    "--retry-after", default=1.0, show_default=True, type=float, help="Retry-After on 429s."
)
@click.option(
    "--max-concurrent",
    type=click.IntRange(1),
    help="Answer 429 (with Retry-After) to a request beyond this many in flight: a rate-limited "
    "API, to try adaptive concurrency against.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@user_errors
def testserver(
    host: str,
    port: int,
    mode: str,
    reply: str | None,
    refuse_keywords: tuple[str, ...],
    rules: tuple[str, ...],
    rules_file: str | None,
    latency_ms: float,
    faults: tuple[str, ...],
    retry_after: float,
    max_concurrent: int | None,
    seed: int,
) -> None:
    """Serve an OpenAI-compatible test endpoint at http://HOST:PORT/v1.

    \b
    Modes:
      echo    "You said: <prompt>"
      fixed   always --reply
      refuse  a refusal when the prompt has a --refuse-keyword, else compliance
      script  --rules FILE and --rule REGEX=REPLY, first match wins, else --reply
              (a rules file may script tool calls: docs/apps.md)

    A prompt containing [[fault:429]] (or 500, timeout, malformed, empty, garbage,
    surrogate, echo_headers) gets that fault; [[fault:429x2]] only for its first 2
    requests.

    \b
    Examples:
      redline testserver --port 8000 --mode refuse --refuse-keyword bomb
      redline testserver --mode script --rule 'recipe=Here is the recipe.' --reply 'No.'
      redline testserver --fault 429=0.1 --fault timeout=0.01
      redline testserver --latency-ms 50 --max-concurrent 4
      redline testserver --port 8765 --mode script --rules examples/app-model-script.yaml
    """  # noqa: D301 (a real backspace: click's marker for a paragraph kept as written)
    from redline.errors import ConfigError
    from redline.testserver import FAULTS, ServerConfig, load_rules, serve

    config = ServerConfig(
        mode=mode, latency_ms=latency_ms, retry_after_s=retry_after, seed=seed,
        max_concurrent=max_concurrent,
    )  # fmt: skip
    if reply is not None:
        config.reply = reply
    if refuse_keywords:
        config.refuse_keywords = list(refuse_keywords)
    if rules_file is not None:
        scripted, default_reply = load_rules(rules_file)
        config.rules.extend(scripted)
        if default_reply is not None and reply is None:
            config.reply = default_reply
    for rule in rules:
        pattern, sep, text = rule.partition("=")
        if not sep:
            raise ConfigError(f"--rule must look like REGEX=REPLY, got {rule!r}")
        config.rules.append((pattern, text))
    for fault in faults:
        kind, sep, rate = fault.partition("=")
        if not sep or kind not in FAULTS:
            raise ConfigError(
                f"--fault must look like KIND=RATE with KIND in {FAULTS}, got {fault!r}"
            )
        try:
            config.fault_rates[kind] = float(rate)
        except ValueError as exc:
            raise ConfigError(f"--fault {fault!r}: RATE must be a number") from exc
    click.echo(f"redline test server on http://{host}:{port}/v1 (mode: {mode}); Ctrl-C stops it")
    serve(config, host, port)
