"""The corpus stage: the reference zoo and matching extracted models against it."""

from modelhound.corpus.match import Match, Matcher, Signals
from modelhound.corpus.zoo import Reference, Zoo

__all__ = ["Match", "Matcher", "Reference", "Signals", "Zoo"]
