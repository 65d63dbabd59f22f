"""Did-you-mean suggestions for catalog ids: names people type, mapped to catalog ids.

Aliases only feed the hint of an error message; a value is never silently replaced by a
guess. :func:`suggest` tries, in order: an alias, an id whose letters and digits start with
the value's (``h100`` -> ``h100-sxm``, ``gptoss`` -> ``gpt-oss-120b``), the longest id the value
starts with (``Llama-3.3-70B-Instruct`` -> ``llama3.3-70b``), a Hugging Face repository name
without its organisation (``openai/gpt-oss-20b``), then the closest spelling.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

#: common names -> catalog id (keys compared by their lowercase letters and digits)
ALIASES: dict[str, str] = {
    "gptoss": "gpt-oss-120b",
    "qwen3": "qwen3-235b-a22b",
    "qwen3moe": "qwen3-235b-a22b",
    "deepseek": "deepseek-v3.2",
    "deepseekv32exp": "deepseek-v3.2",
    "deepseekr1": "deepseek-r1",
    "kimi": "kimi-k2",
    "kimik2instruct": "kimi-k2",
    "glm45": "glm-4.5",
    "llama70b": "llama3.3-70b",
    "llama4": "llama4-maverick",
    "mixtral": "mixtral-8x7b",
    "h100": "h100-sxm",
    "h200sxm": "h200",
    "b200sxm": "b200",
    "gb300nvl72": "gb300",
    "gb200nvl72": "gb200",
    "blackwellultra": "b300",
    "rubin": "vr200",
    "verarubin": "vr200",
    "vr200nvl144": "vr200",
    "mi400": "mi455x",
    "mi450x": "mi455x",
    "trainium2": "trn2",
    "trainium3": "trn3",
    "rtxpro6000": "rtx-pro-6000",
    "rtx6000": "rtx-pro-6000",
}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def suggest(value: object, ids: Sequence[str]) -> str | None:
    """Return the catalog id a mistyped ``value`` most likely means, or None.

    Parameters
    ----------
    value : object
        What the user wrote.
    ids : sequence of str
        Valid ids, in catalog order.

    Returns
    -------
    str or None
        An id of ``ids``.
    """
    text = str(value)
    key = _key(text)
    if not key:
        return None
    alias = ALIASES.get(key)
    if alias in ids:
        return alias
    starting = [i for i in ids if _key(i).startswith(key)]
    if starting:
        return starting[0]
    within = sorted((i for i in ids if key.startswith(_key(i))), key=len, reverse=True)
    if within:
        return within[0]
    if "/" in text:  # a Hugging Face repository name: organisation/model
        return suggest(text.rsplit("/", 1)[1], ids)
    close = difflib.get_close_matches(text.lower(), list(ids), n=1)
    return close[0] if close else None
