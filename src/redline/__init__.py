"""redline: red-team large language models, judge the replies, measure honestly."""

__version__ = "0.1.0"
