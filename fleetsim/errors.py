"""The one exception type users see for bad input, and its two kinds."""

from __future__ import annotations


def one_line(text: str) -> str:
    """Return ``text`` with every run of whitespace (newlines included) collapsed to one space.

    Parameters
    ----------
    text : str
        A message, possibly multi-line (Hydra and OmegaConf messages often are).

    Returns
    -------
    str
        The message on one line.
    """
    return " ".join(str(text).split())


#: longest value shown in a :class:`ConfigError` message (longer ones are cut with "...")
_MAX_VALUE_CHARS = 200


class InputError(ValueError):
    """Bad input: a config field, a CLI override or a catalog row.

    The message is one line naming the field, the value and what is allowed. The CLI prints it
    and exits with status 2; the Python API raises it.
    """


class ConfigError(InputError):
    """A config field (from YAML, an override or ``fleetsim.run``) has a bad value.

    Parameters
    ----------
    field : str
        Dotted config key, e.g. ``"workload.tpot_slo_s"``.
    value : object
        The offending value.
    allowed : str
        What is allowed, in words.
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = one_line(allowed)
        shown = repr(value)
        if len(shown) > _MAX_VALUE_CHARS:
            shown = shown[: _MAX_VALUE_CHARS - 3] + "..."
        super().__init__(one_line(f"{field}={shown} is not allowed: {allowed}"))


class CatalogError(InputError):
    """A catalog row is malformed, out of bounds or unsourced.

    Parameters
    ----------
    location : str
        File and line, e.g. ``"data/hardware.csv:12"``.
    message : str
        What is wrong, naming the id, parameter, value and what is allowed.
    """

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        super().__init__(one_line(f"{location}: {message}"))
