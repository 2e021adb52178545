"""Findings bundles: one portable file with a run and its provenance (``redline bundle``).

A bundle is a zip archive of JSON Lines members (``run.json``, ``components.jsonl``,
``attempts.jsonl``, ``calls.jsonl``, ``verdicts.jsonl``, ``human_labels.jsonl``,
``calibrations.jsonl``) and a ``manifest.json`` that names the redline version, the run's
config, its judges with their measured agreement with people (the store's calibrations), the
behaviour sources and their licences, the counts, and the SHA-256 of every member.

:func:`export_bundle` writes one; :func:`import_bundle` merges one into another store: every
member's checksum is verified first (a bundle that does not match its manifest is refused
whole, nothing written), rows the store already has are skipped (by primary key, and labels by
their content), so importing twice changes nothing. See docs/bundles.md.
"""

from redline.bundle.archive import BundleError, export_bundle, import_bundle, read_manifest

__all__ = ["BundleError", "export_bundle", "import_bundle", "read_manifest"]
