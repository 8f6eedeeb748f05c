"""RCS rich content: BSG's ``options`` object, validated and normalised.

Two shapes exist, as in BSG's One-API schema (``Options = anyOf [Text, Cards]``):

* text: ``{"text": "..."}``, 1-160 characters (counted in UTF-16 code units, as BSG
  counts emoji);
* cards: ``{"cards": [card, ...]}``, 1-10 cards (one card is a "single card", more a
  "carousel"). A card has ``title`` (<= 200), ``text`` (1-1000) and/or ``media``
  ``{"url": "http(s)://..."}`` (<= 1000; one of text / media is required), and up to
  4 ``suggestions`` (buttons): a link ``{"type": "link", "text", "url"}`` or a call
  ``{"type": "call", "text", "phone"}``; button text <= 25, ``postback_data`` <= 25,
  ``phone`` 9-15 digits without ``+``. ``type`` may be left out (BSG's own examples
  do): it is inferred from ``url`` / ``phone``.

Where BSG's prose and schema disagree (5 vs 10 cards, 2 vs 4 buttons) the schema's
wider limit is taken, so every request BSG accepts is accepted. ``validate`` returns
the normalised object (``type`` filled in, unknown keys dropped) or raises
``ContentError`` naming the offending field as a dotted path
(``options.cards.0.suggestions.1.url``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_TEXT = 160
MAX_CARDS = 10
MAX_TITLE = 200
MAX_CARD_TEXT = 1000
MAX_URL = 1000
MAX_SUGGESTIONS = 4
MAX_BUTTON_TEXT = 25
MAX_POSTBACK = 25
_PHONE = re.compile(r"^[0-9]{9,15}$")
_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


class ContentError(ValueError):
    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _string(
    value: object, field: str, *, maximum: int, minimum: int = 1, utf16: bool = False
) -> str:
    if not isinstance(value, str):
        raise ContentError(f"{field} must be a string", field=field)
    size = utf16_length(value) if utf16 else len(value)
    if size < minimum:
        raise ContentError(f"{field} must not be empty", field=field)
    if size > maximum:
        raise ContentError(f"{field} is longer than {maximum} characters", field=field)
    return value


def _url(value: object, field: str) -> str:
    url = _string(value, field, maximum=MAX_URL)
    if not _URL.match(url):
        raise ContentError(f"{field} must be a link starting with http:// or https://", field=field)
    return url


def _suggestion(raw: object, field: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ContentError(f"{field} must be an object", field=field)
    kind = raw.get("type")
    if kind is None:
        kind = "link" if "url" in raw else "call" if "phone" in raw else None
    if kind not in ("link", "call"):
        raise ContentError(
            f"{field}.type must be link or call (or give url / phone)", field=f"{field}.type"
        )
    out: dict[str, Any] = {
        "type": kind,
        "text": _string(raw.get("text"), f"{field}.text", maximum=MAX_BUTTON_TEXT),
    }
    if kind == "link":
        out["url"] = _url(raw.get("url"), f"{field}.url")
    else:
        phone = raw.get("phone")
        if not isinstance(phone, str) or not _PHONE.match(phone):
            raise ContentError(
                f"{field}.phone must be 9 to 15 digits without +", field=f"{field}.phone"
            )
        out["phone"] = phone
    if raw.get("postback_data") is not None:
        out["postback_data"] = _string(
            raw.get("postback_data"), f"{field}.postback_data", maximum=MAX_POSTBACK
        )
    return out


def _card(raw: object, field: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ContentError(f"{field} must be an object", field=field)
    out: dict[str, Any] = {}
    if raw.get("title") is not None:
        out["title"] = _string(raw.get("title"), f"{field}.title", maximum=MAX_TITLE)
    if raw.get("text") is not None:
        out["text"] = _string(raw.get("text"), f"{field}.text", maximum=MAX_CARD_TEXT, utf16=True)
    media = raw.get("media")
    if media is not None:
        if not isinstance(media, Mapping):
            raise ContentError(f"{field}.media must be an object", field=f"{field}.media")
        out["media"] = {"url": _url(media.get("url"), f"{field}.media.url")}
    if "text" not in out and "media" not in out:
        raise ContentError(f"{field} needs text or media", field=f"{field}.text")
    suggestions = raw.get("suggestions")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            raise ContentError(
                f"{field}.suggestions must be an array", field=f"{field}.suggestions"
            )
        if len(suggestions) > MAX_SUGGESTIONS:
            raise ContentError(
                f"{field}.suggestions holds at most {MAX_SUGGESTIONS} buttons",
                field=f"{field}.suggestions",
            )
        out["suggestions"] = [
            _suggestion(s, f"{field}.suggestions.{i}") for i, s in enumerate(suggestions)
        ]
    return out


def validate(options: object, field: str = "options") -> dict[str, Any]:
    """The normalised content, or ``ContentError``."""
    if not isinstance(options, Mapping):
        raise ContentError(f"{field} must be an object", field=field)
    if options.get("cards") is not None:
        cards = options["cards"]
        if not isinstance(cards, list) or not cards:
            raise ContentError(f"{field}.cards must be a non-empty array", field=f"{field}.cards")
        if len(cards) > MAX_CARDS:
            raise ContentError(
                f"{field}.cards holds at most {MAX_CARDS} cards", field=f"{field}.cards"
            )
        return {"cards": [_card(c, f"{field}.cards.{i}") for i, c in enumerate(cards)]}
    if options.get("text") is not None:
        return {"text": _string(options["text"], f"{field}.text", maximum=MAX_TEXT, utf16=True)}
    raise ContentError(f"{field} needs either text or cards", field=f"{field}.text")


def summary(content: Mapping[str, Any]) -> str:
    """The content's words as plain text: what is searched, moderated and shown."""
    if "text" in content:
        return str(content["text"])
    parts: list[str] = []
    for card in content.get("cards", []):
        parts += [str(card[k]) for k in ("title", "text") if card.get(k)]
        parts += [str(s["text"]) for s in card.get("suggestions", [])]
    return "\n".join(parts) or "(media)"
