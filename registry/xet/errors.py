"""Error type shared by the Xet format library."""


class XetFormatError(ValueError):
    """Malformed or inconsistent Xet data; the message is a precise, user-readable reason."""
