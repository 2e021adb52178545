"""Findings as training data: ``redline export RUN --format sft|dpo|guard|jsonl``.

- ``sft``: conversations for supervised fine-tuning (TRL's conversational ``messages``
  format): each unsafe attempt's prompt with a good refusal (never the harmful reply), and each
  benign look-alike's prompt with a helpful answer, so that training against harm does not
  teach evasion. See :mod:`redline.export.formats`.
- ``dpo``: preference pairs (TRL's conversational ``prompt``/``chosen``/``rejected``).
- ``guard``: (prompt, reply, label, category) rows for training a guard classifier.
- ``jsonl``: every attempt with everything about it (as ``report --format jsonl``).

Rows come from :mod:`redline.export.examples` (one per stored attempt, judged by one judge,
human labels preferred where a person labelled the reply); :mod:`redline.export.split` keeps a
behaviour and its look-alike on one side of a train/test split; :mod:`redline.export.dataset`
writes a folder that the Hugging Face ``datasets`` library loads, with a dataset card.
"""
