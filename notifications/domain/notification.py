"""What a notification is: its channels, its delivery states and the rules
for its text. Pure: no transport, no database."""

from __future__ import annotations

import enum

MAX_MESSAGE = 2000
MAX_SUBJECT = 200
MAX_REQUEST_ID = 64
# A derived subject is kept to the length mail clients show in a list
# (RFC 5322 recommends 78 characters a line).
DERIVED_SUBJECT = 78


class Channel(enum.Enum):
    LOG = "log"
    EMAIL = "email"


class DeliveryState(enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    # Retrying cannot help (the mailbox does not exist); kept for inspection.
    FAILED = "failed"


def subject_for(message: str) -> str:
    """The subject a message gets when its sender gave none: its first
    non-blank line, shortened at a word boundary when too long."""
    first = next((line for line in message.splitlines() if line.strip()), "")
    words = " ".join(first.split())
    if len(words) <= DERIVED_SUBJECT:
        return words
    cut = words[: DERIVED_SUBJECT - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "…"


def is_single_line(text: str) -> bool:
    """Subjects become e-mail headers, where a line break would end the header."""
    return "".join(text.splitlines()) == text


def is_storable(text: str) -> bool:
    """PostgreSQL text cannot hold NUL characters."""
    return "\x00" not in text
