"""One base error per stage; messages begin with the input that caused them."""


class ModelhoundError(Exception):
    """Root of every error modelhound raises on purpose."""


class ExtractError(ModelhoundError):
    """An input archive or model blob could not be read."""


class ConversionError(ModelhoundError):
    """A model could not be brought to a runnable form."""


class ProfileError(ModelhoundError):
    """A fingerprint could not be computed or a stored profile is unusable."""


class CorpusError(ModelhoundError):
    """The reference zoo is missing, incompatible or inconsistent."""


class ReportError(ModelhoundError):
    """A report could not be written."""


class StoreError(ModelhoundError):
    """The results database is unreadable or from an incompatible version."""
