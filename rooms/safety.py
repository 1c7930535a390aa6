"""Safety signals in message bodies: crisis language and personal health/contact information.

Both detectors only DETECT. They never change or drop a message; what to do with a signal
(alert a navigator, show crisis resources, ask the sender to confirm before posting in a public
room) is the caller's decision. Pure functions over strings; the only I/O is
``CrisisMatcher.load()`` reading the phrase list shipped in ``rooms/data``.

Crisis detection (``CrisisMatcher``)
    A maintained phrase list (``rooms/data/crisis_phrases.txt``, format documented there),
    compiled into ONE alternation regex. Matching is on whole words, case-insensitive, after
    NFKC normalization, casefolding and stripping of accents and invisible format characters
    (soft hyphens, zero-width joiners; a zero-width space counts as a space), so "SUICIDAL",
    "kill" + line break + "myself", a no-break space inside "quiero morir", and "hacerme
    dano" all match. Apostrophes are optional and may be curly (U+2019 "don't", or "dont");
    a hyphen in a phrase may be a space or nothing ("self harm", "selfharm"). There is no
    stemming: "overdose on" does NOT match "overdosed on kindness" (nor "overdosed on my
    pills": list inflected forms explicitly if they are wanted). Word boundaries keep
    "skilled" from "killed" and "diet" from "die"; a hyphen is a boundary, so "die-hard fan"
    is safe only because no phrase is a bare "die".
    "Suicide" alone matches on purpose (a navigator wants to see it, including "assisted
    suicide"); "Suicide Squad" is listed as a false friend instead, so it does NOT match.

    False friends ("!" lines) are phrases that contain a crisis phrase but are not one ("I
    don't want to die" is fear of death, not ideation). They sit in the same alternation,
    longest first, so at any position the more specific phrase wins; a false-friend hit is
    skipped and scanning continues, so "I don't want to die. I want to die." still matches.

PHI detection (``find_phi``)
    Conservative regexes for "phone", "email", "address" and "birth_date" in public rooms.
    Trade-off: WARN, NEVER BLOCK. The caller shows the kinds found and the sender confirms or
    edits, so a false alarm costs a click, but frequent false alarms teach people to click
    through every warning. The detectors therefore favour precision on what this community
    types every day (stage 4, 3 cycles, 500 mg, ANC 1500, 12/2023, 10:30, room 12, "a 45
    minute drive", "started birth control on 3/14") over recall on unusual formats. Not
    detected on purpose: 7-digit local numbers, international numbers written without "+",
    spelled-out emails ("jane at example dot org"), lower-case street names ("12 maple
    street"), non-North-American address order ("Calle Mayor 12"), a birth YEAR on its own,
    and a date whose birth word is more than about one clause away.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from importlib import resources

__all__ = ["PHI_KINDS", "CrisisMatcher", "find_phi", "parse_phrase_list"]

# --------------------------------------------------------------------------------------------
# Crisis phrases
# --------------------------------------------------------------------------------------------

# Curly quotes, modifier letters, accents and primes people type for an apostrophe; and the
# zero-width space, which stands between words (other invisible format characters are dropped).
_CHAR_MAP = str.maketrans(
    {c: "'" for c in "\u2018\u2019\u201b\u02bc\u02b9\u00b4\u0060\u2032"} | {"\u200b": " "}
)
_SEPARATORS = re.compile(r"[\s'\-]+")


def _fold(text: str) -> str:
    """Canonical text for matching: NFKC, casefold, plain apostrophes, no accents or Cf chars."""
    if text.isascii():
        # Most messages: NFKC, NFD and NFC leave ASCII as it is, it holds no combining or Cf
        # character and its casefold is lower(); this skips a Python loop over every char.
        return text.lower().translate(_CHAR_MAP)
    text = unicodedata.normalize("NFKC", text).casefold().translate(_CHAR_MAP)
    decomposed = unicodedata.normalize("NFD", text)
    kept = (
        ch
        for ch in decomposed
        if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf"
    )
    return unicodedata.normalize("NFC", "".join(kept))


def _key(phrase: str) -> str:
    """Identity of a phrase for duplicate checks: spelling variants the pattern allows coincide."""
    return _SEPARATORS.sub("", _fold(phrase))


def _pattern(phrase: str) -> str:
    """Regex source for one folded phrase: flexible white space, optional apostrophes/hyphens."""
    words = []
    for word in _fold(phrase).split():
        parts = []
        for ch in word:
            if ch == "'":
                parts.append("'?")
            elif ch == "-":
                parts.append(r"[\s\-]*")
            else:
                parts.append(re.escape(ch))
        words.append("".join(parts))
    return r"\s+".join(words)


def parse_phrase_list(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Parse the phrase-file format into ``(phrases, false_friends)``, in file order.

    ``#`` starts a comment, blank lines are ignored, a leading ``!`` marks a false friend.
    Inner white space is collapsed. Validation is left to ``CrisisMatcher``.
    """
    phrases: list[str] = []
    false_friends: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split("#", 1)[0].split())
        if not line:
            continue
        if line.startswith("!"):
            false_friends.append(" ".join(line[1:].split()))
        else:
            phrases.append(line)
    return tuple(phrases), tuple(false_friends)


class CrisisMatcher:
    """Finds crisis or self-harm language in a message body. Detects only; never edits.

    ``CrisisMatcher(phrases, false_friends=())`` raises ``ValueError`` for an empty phrase,
    for two entries that are the same phrase up to case, accents, apostrophes, hyphens or
    spacing, and for a false friend that contains no listed phrase (it could never apply).
    Build one per process (the app's lifespan) and share it: ``match`` is thread-safe.
    """

    __slots__ = ("_by_group", "_regex", "_required", "false_friends", "phrases")

    def __init__(self, phrases: Iterable[str], false_friends: Iterable[str] = ()) -> None:
        self.phrases = tuple(phrases)
        self.false_friends = tuple(false_friends)
        entries = [(p, True) for p in self.phrases] + [(f, False) for f in self.false_friends]
        seen: dict[str, str] = {}
        for text, _ in entries:
            if not _key(text):
                raise ValueError(f"crisis phrases: empty phrase {text!r}")
            if (key := _key(text)) in seen:
                raise ValueError(f"crisis phrases: {text!r} duplicates {seen[key]!r}")
            seen[key] = text
        if not self.phrases:
            raise ValueError("crisis phrases: the list is empty")

        crisis_only = self._compile([(p, True) for p in self.phrases])[0]
        for friend in self.false_friends:
            if crisis_only.search(_fold(friend)) is None:
                raise ValueError(f"crisis phrases: false friend {friend!r} contains no phrase")
        self._regex, self._by_group = self._compile(entries)
        # A cheap necessary condition before the regex: every literal run of a phrase's
        # pattern (its folded text split where the pattern is flexible: white space,
        # apostrophes, hyphens) appears verbatim in any text it matches. The alternation
        # tries all its branches at every word start (about 1.3 us a character, 60-330 us a
        # message); a plain loop of substring tests (its longest run first, then the rest)
        # rules most messages out in a few microseconds.
        required: dict[str, list[tuple[str, ...]]] = {}
        for phrase in self.phrases:
            runs = sorted({r for r in _SEPARATORS.split(_fold(phrase)) if r}, key=len, reverse=True)
            required.setdefault(runs[0], []).append(tuple(runs[1:]))
        self._required = tuple((run, tuple(rest)) for run, rest in required.items())

    @staticmethod
    def _compile(
        entries: list[tuple[str, bool]],
    ) -> tuple[re.Pattern[str], dict[str, tuple[str, bool]]]:
        # Longest first: at one position a regex alternation takes the first branch that
        # matches, so the more specific phrase (or false friend) must come before its prefix.
        ordered = sorted(entries, key=lambda e: (-len(_key(e[0])), e[1]))
        by_group = {f"p{i}": entry for i, entry in enumerate(ordered)}
        body = "|".join(f"(?P<{g}>{_pattern(text)})" for g, (text, _) in by_group.items())
        return re.compile(rf"(?<!\w)(?:{body})(?!\w)"), by_group

    @classmethod
    def from_text(cls, text: str) -> CrisisMatcher:
        """A matcher from text in the phrase-file format (see ``parse_phrase_list``)."""
        phrases, false_friends = parse_phrase_list(text)
        return cls(phrases, false_friends)

    @classmethod
    def load(cls) -> CrisisMatcher:
        """The matcher for the list shipped with this release (rooms/data/crisis_phrases.txt)."""
        text = (
            resources.files("rooms")
            .joinpath("data/crisis_phrases.txt")
            .read_text(encoding="utf-8")
        )
        return cls.from_text(text)

    def _may_match(self, folded: str) -> bool:
        for run, rests in self._required:
            if run in folded:
                for rest in rests:
                    for other in rest:
                        if other not in folded:
                            break
                    else:
                        return True
        return False

    def match(self, text: str) -> str | None:
        """The first listed phrase found in ``text`` (as written in the list), or None."""
        folded = _fold(text)
        if not self._may_match(folded):
            return None  # no phrase has all its words there, so no phrase can match
        for hit in self._regex.finditer(folded):
            assert hit.lastgroup is not None  # every branch is one named group
            phrase, is_crisis = self._by_group[hit.lastgroup]
            if is_crisis:
                return phrase
        return None


# --------------------------------------------------------------------------------------------
# Personal health / contact information
# --------------------------------------------------------------------------------------------

PHI_KINDS = ("phone", "email", "address", "birth_date")

# North American: optional +1/1, area code (parenthesized or not), 3 + 4 digits, with space,
# dot or hyphen separators or none. Slashes and colons are not separators (dates, times).
_NANP = re.compile(
    r"(?<![\w+])(?:\+?1[ .\-]?)?(?:\(\d{3}\)|\d{3})[ .\-]?\d{3}[ .\-]?\d{4}(?![\w])"
)
# Ten or more digits in a row, optionally after "+": only phone-like things are that long.
_LONG_DIGITS = re.compile(r"(?<![\w+])\+?\d{10,15}(?!\w)")
# International: "+CC" then two or more groups of digits, each after a separator
# ("+44 20 7946 0958", "+33 1 23 45 67 89", "+44 (0)20 7946 0958"); 8 to 15 digits in all.
_INTERNATIONAL = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[ .\-]?\(\d{1,4}\)|[ .\-]\d{1,5}){2,6}(?![\w])"
)

_EMAIL = re.compile(
    r"(?<![\w.%+\-])[\w.%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w\-])"
)

_STREET_SUFFIX = (
    r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl"
    r"|terrace|terr?|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|crescent|cres)"
)
# A street-name word is Capitalized ("Maple", "O'Neil", "St.", "N.") or an ordinal ("5th").
# Requiring capitals is what keeps "a 45 minute drive" and "3 hours on the road" out.
_STREET_WORD = r"(?:[A-Z][A-Za-z'\-]*|[A-Z][a-z]{0,2}\.|\d{1,3}(?i:st|nd|rd|th))"
_ADDRESS = re.compile(
    r"(?<![\w:/.,\-])\d{1,6}[A-Za-z]?[^\S\n]+"  # house number, "221B"
    rf"(?:{_STREET_WORD}[^\S\n]+){{1,3}}"  # one to three street-name words
    rf"{_STREET_SUFFIX}\.?(?!\w)"  # suffix
    r"(?:,?[^\S\n]*(?i:apt|apartment|unit|suite|ste|\#)\.?[^\S\n]*\#?\w+)?"  # apartment
)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_MES = (
    r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|se(?:p)?tiembre|octubre"
    r"|noviembre|diciembre)"
)
_DATE = (
    r"(?<![\w/.\-])(?:"
    r"\d{4}-\d{1,2}-\d{1,2}"  # 1962-03-14
    r"|\d{1,2}/\d{1,2}(?:/(?:\d{4}|\d{2}))?"  # 3/14, 03/14/1962, 3/14/62
    r"|\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2})"  # 14.03.1962
    r"|\d{1,2}-\d{1,2}-(?:\d{4}|\d{2})"  # 03-14-1962
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"  # March 14, 1962
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+\d{{4}})?"  # 14th of March
    rf"|\d{{1,2}}\s+de\s+{_MES}(?:\s+del?\s+\d{{4}})?"  # 14 de marzo de 1962
    r")(?![\w/]|[.\-]\d)"
)
# "birth" alone is left out on purpose: "started birth control on 3/14" is not a birth date.
_BIRTH_WORD = (
    r"(?<!\w)(?:born|birthday|b-?day|birth\s*date|date\s+of\s+birth|d\.?o\.?b\.?"
    r"|fecha\s+de\s+nacimiento|nac[ií]|nacid[oa]|cumpleaños)(?!\w)"
)
# A date counts as a birth date only next to a birth word in the same sentence: up to 30
# characters after the word ("DOB: 03/14/1962", "I was born on March 14, 1962") or up to 15
# before it ("March 14 is my birthday"). "My scan is on 03/14" has no birth word.
_BIRTH_DATE = re.compile(
    rf"{_BIRTH_WORD}[^.!?\n]{{0,30}}?{_DATE}|{_DATE}[^.!?\n]{{0,15}}?{_BIRTH_WORD}",
    re.IGNORECASE,
)


# Every detector needs a decimal digit (``\d``: phone, address, birth date) or an "@" (email),
# so a body with neither holds no PHI. A compiled search, not ``any(ch.isdigit() ...)``: that
# Python loop over every character was a fifth of the send path's CPU in the small-rooms bench.
_NEEDED = re.compile(r"[\d@]")


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _has_phone(text: str) -> bool:
    if _NANP.search(text) or _LONG_DIGITS.search(text):
        return True
    return any(8 <= _digits(m.group()) <= 15 for m in _INTERNATIONAL.finditer(text))


def find_phi(text: str) -> list[str]:
    """The kinds of personal information ``text`` seems to contain, in ``PHI_KINDS`` order.

    Each kind appears at most once; an empty list means nothing was found. Meant for a
    warn-and-confirm step before posting in a public room, never for blocking: the detectors
    are conservative regexes (see the module docstring for what they deliberately miss).
    """
    text = unicodedata.normalize("NFKC", text)
    if _NEEDED.search(text) is None:
        return []  # most messages: one C-level scan instead of four regexes
    checks = (
        ("phone", _has_phone(text)),
        ("email", _EMAIL.search(text) is not None),
        ("address", _ADDRESS.search(text) is not None),
        ("birth_date", _BIRTH_DATE.search(text) is not None),
    )
    return [kind for kind, found in checks if found]
