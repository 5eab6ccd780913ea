"""modelhound: find reused deep-learning models inside mobile apps."""

__version__ = "0.1.0"
