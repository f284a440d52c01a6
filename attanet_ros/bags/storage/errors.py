"""The one exception of the bag tools."""


class BagError(ValueError):
    """A bag that cannot be used as asked (missing, unreadable, wrong topic); the message says why."""
