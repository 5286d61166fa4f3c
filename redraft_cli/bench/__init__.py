"""`redraft bench DIR`: time and check every arm of an edit suite on one loaded model."""

from .command import register

__all__ = ["register"]
