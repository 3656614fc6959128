"""XML 1.0 safety for text that ends up in a feed.

XML 1.0 (section 2.2, production ``Char``) forbids most C0 controls, lone surrogates
and U+FFFE/U+FFFF; lxml refuses such strings, so one stray byte from an origin would
otherwise crash rendering. They are removed, never escaped (escaping is not allowed).
"""

from __future__ import annotations

import re

_ILLEGAL_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids."""
    return _ILLEGAL_XML.sub("", text)
