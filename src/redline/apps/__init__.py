"""Red-teaming applications and agents: scenarios, fake tools and the application runner.

- :mod:`redline.apps.scenario`: a behaviour's scenario (planted documents, what success
  means), validated; the attempt's planted documents.
- :mod:`redline.apps.tools`: harmless fake tools that record their calls.
- :mod:`redline.apps.agent`: :class:`~redline.apps.agent.Agent`, an application around a model.
- :mod:`redline.apps.reference`: the reference application the ``apps`` set is written for.
- :mod:`redline.apps.checks`: the deterministic checks the ``scenario`` judge applies.

See docs/apps.md.
"""
