"""Crisis-language and PHI detection: pure functions over strings, tested as such."""

from __future__ import annotations

from importlib import resources

import pytest

from rooms.safety import PHI_KINDS, CrisisMatcher, find_phi, parse_phrase_list


@pytest.fixture(scope="module")
def matcher() -> CrisisMatcher:
    return CrisisMatcher.load()


def _shipped_text() -> str:
    return resources.files("rooms").joinpath("data/crisis_phrases.txt").read_text("utf-8")


# --- the shipped list ------------------------------------------------------------------------


def test_shipped_list_loads_with_sane_size(matcher: CrisisMatcher) -> None:
    assert 40 <= len(matcher.phrases) <= 70
    assert matcher.false_friends


def test_shipped_list_has_no_duplicates_or_empty_phrases() -> None:
    phrases, false_friends = parse_phrase_list(_shipped_text())
    entries = phrases + false_friends
    assert all(e.strip() and e == e.strip() for e in entries)
    assert len({e.casefold() for e in entries}) == len(entries)
    # Nor duplicates up to apostrophes, hyphens, spacing and accents: the constructor checks.
    CrisisMatcher(phrases, false_friends)


def test_every_shipped_phrase_matches_itself_in_a_sentence(matcher: CrisisMatcher) -> None:
    for phrase in matcher.phrases:
        for template in ("{}", "Lately I feel like {}, honestly.", "ok...\n{}\n\nthat's all"):
            assert matcher.match(template.format(phrase)) == phrase, (template, phrase)


def test_every_shipped_false_friend_is_quiet_alone(matcher: CrisisMatcher) -> None:
    for friend in matcher.false_friends:
        assert matcher.match(f"Honestly, {friend} thing.") is None, friend


def test_a_false_friend_does_not_hide_a_real_hit_later(matcher: CrisisMatcher) -> None:
    assert matcher.match("I don't want to die. But some nights I want to die.") == "want to die"
    assert matcher.match("Suicide Squad was dull; I feel suicidal") == "suicidal"


# --- crisis: positives ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("I want to kill myself", "kill myself"),
        ("i just want to die", "want to die"),
        ("I WANT TO DIE", "want to die"),
        ("Everyone would be better off dead, me included", "better off dead"),
        ("they'd be better off without me", "better off without me"),
        ("I have no reason to live", "no reason to live"),
        ("Thinking about suicide again", "suicide"),
        ("Feeling SUICIDAL tonight", "suicidal"),
        ("my friend mentioned assisted suicide", "suicide"),
        ("I keep wanting to hurt myself", "hurt myself"),
        ("I cut myself last night", "cut myself"),
        ("I could overdose on my morphine", "overdose on"),
        ("I'm going to take all my pills", "take all my pills"),
        ("I've been stockpiling my pills", "stockpiling my pills"),
        ("I can't go on like this", "can't go on"),
        ("I can't go on anymore", "can't go on"),
        ("I want to say goodbye to everyone", "say goodbye to everyone"),
        ("I want to end my life", "end my life"),
        ("Some days I think of ending it all.", "ending it all"),
        ("I could just end it all", "end it all"),
        ("self harm is back", "self-harm"),
        ("selfharm", "self-harm"),
        ("self - harm", "self-harm"),
        # curly and missing apostrophes
        ("I don\u2019t want to be here anymore", "don't want to be here anymore"),
        ("I don\u2018t want to live", "don't want to live"),
        ("i dont want to live", "don't want to live"),
        ("I can\u2019t go on", "can't go on"),
        # line breaks, tabs, repeated and no-break spaces between words
        ("I want to\nkill\n\nmyself", "kill myself"),
        ("better   off\tdead", "better off dead"),
        ("no\u00a0reason\u00a0to\u00a0live", "no reason to live"),
        ("kill\u200bmyself", "kill myself"),  # zero-width space
        ("sui\u00adcidal", "suicidal"),  # soft hyphen
        # NFKC: full-width letters
        ("\uff4b\uff49\uff4c\uff4c \uff4d\uff59\uff53\uff45\uff4c\uff46", "kill myself"),
        # Spanish, with and without accents
        ("Ya no aguanto, quiero morir", "quiero morir"),
        ("me quiero morir", "quiero morir"),
        ("quiero morirme", "quiero morirme"),
        ("pienso en quitarme la vida", "quitarme la vida"),
        ("quiero suicidarme", "suicidarme"),
        ("Tengo miedo de hacerme daño", "hacerme daño"),
        ("tengo miedo de hacerme dano", "hacerme daño"),
        ("QUIERO MATARME", "quiero matarme"),
    ],
)
def test_crisis_positives(matcher: CrisisMatcher, text: str, phrase: str) -> None:
    assert matcher.match(text) == phrase


# --- crisis: negatives (word-boundary and cancer-context false friends) --------------------


@pytest.mark.parametrize(
    "text",
    [
        "He is so skilled with the IV",
        "I killed it at work today",
        "die-hard fan of the Mets",
        "my diet is all smoothies now",
        "this chemo is killing me",
        "radiation is killing me lol",
        "the tumor wants to kill me",
        "I'm dying to know my scan results",
        "my dad died last year",
        "my mother died of ovarian cancer",
        "I don't want to die",
        "I do not want to die",
        "She doesn't want to die",
        "I want to die at home, not in a hospital",
        "cancer will take my life eventually",
        "I'm ready to die when it comes, at peace",
        "Suicide Squad was on TV",
        "the trial uses suicide gene therapy",
        "I was killing myself laughing",
        "I cut myself shaving",
        "be careful not to overdose on Tylenol",
        "she overdosed on kindness",  # no stemming: "overdosed on" is not "overdose on"
        "suicides",  # whole words only
        "I can't go on the trial because of my kidneys",
        "we can't go on vacation this year",
        "I can't go on a plane with my port",
        "no quiero morir todavía",
        "esta quimio va a matarme",
        "",
    ],
)
def test_crisis_negatives(matcher: CrisisMatcher, text: str) -> None:
    assert matcher.match(text) is None


# --- crisis: the constructor -----------------------------------------------------------------


def test_custom_phrases_and_first_hit_wins() -> None:
    m = CrisisMatcher(["end it", "end it all", "no hope"])
    assert m.match("I want to end it all") == "end it all"  # the longer phrase wins
    assert m.match("no hope, I want to end it") == "no hope"  # the first in the text
    assert m.match("the end, it seems") is None


@pytest.mark.parametrize(
    ("phrases", "false_friends", "why"),
    [
        ([], [], "empty"),
        (["kill myself", "  "], [], "empty"),
        (["kill myself", "Kill  Myself"], [], "duplicates"),
        (["don't want to live", "dont want to live"], [], "duplicates"),
        (["self-harm", "self harm"], [], "duplicates"),
        (["want to die"], ["want to die"], "duplicates"),
        (["want to die"], ["dying to know"], "contains no phrase"),
    ],
)
def test_bad_phrase_lists_are_refused(
    phrases: list[str], false_friends: list[str], why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        CrisisMatcher(phrases, false_friends)


def test_parse_phrase_list_format() -> None:
    text = "# header\n\nkill   myself  # trailing comment\n!don't want to die\n   \n"
    assert parse_phrase_list(text) == (("kill myself",), ("don't want to die",))


# --- PHI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("call me at 555-123-4567", ["phone"]),
        ("(555) 123 4567", ["phone"]),
        ("my cell is 555.123.4567", ["phone"]),
        ("text 5551234567 anytime", ["phone"]),
        ("1-800-555-0199 is the hotline", ["phone"]),
        ("+1 (555) 123-4567", ["phone"]),
        ("+44 20 7946 0958", ["phone"]),
        ("+33 1 23 45 67 89", ["phone"]),
        ("+442079460958", ["phone"]),
        ("jane.doe@example.org", ["email"]),
        ("write to J.Doe+kindred@mail.example.co.uk please", ["email"]),
        ("I live at 12 Maple Street", ["address"]),
        ("221B Baker St Apt 4", ["address"]),
        ("we're at 1600 Pennsylvania Ave. NW", ["address"]),
        ("4 N. Oak Ln, Unit 2", ["address"]),
        ("350 5th Avenue", ["address"]),
        ("DOB 03/14/1962", ["birth_date"]),
        ("D.O.B.: 3/14/62", ["birth_date"]),
        ("date of birth 1962-03-14", ["birth_date"]),
        ("I was born on March 14, 1962", ["birth_date"]),
        ("born 14th of March 1962", ["birth_date"]),
        ("my birthday is March 14", ["birth_date"]),
        ("March 14 is my birthday", ["birth_date"]),
        ("nací el 14 de marzo de 1962", ["birth_date"]),
        (
            "Jane, born 3/14/1962, 12 Maple Street, jane@example.org, 555-123-4567",
            ["phone", "email", "address", "birth_date"],
        ),
        ("555-123-4567 or 555-987-6543", ["phone"]),  # no duplicates
    ],
)
def test_phi_positives(text: str, kinds: list[str]) -> None:
    assert find_phi(text) == kinds


@pytest.mark.parametrize(
    "text",
    [
        "stage 4",
        "Stage IV, 3 cycles left",
        "I'm on 500 mg twice a day",
        "1,500 mg of calcium",
        "ANC 1500 today, WBC 3.2",
        "platelets 150000",
        "my scans were 12/2023 and 06/2024",
        "scan on 2024-03-14",
        "my scan is on 03/14",
        "4 rounds of chemo",
        "I'm in room 12",
        "10:30 appointment",
        "appointment 10:30-11:45",
        "12 weeks of radiation in 2024",
        "a 45 minute drive to the cancer center",
        "3 hours on the road each way",
        "I have 2 Dr appointments",
        "started birth control on 3/14",
        "Happy birthday! My port gets flushed 3/14",
        "born in 1962",
        "@maple thanks for the tip",
        "ECOG 1, PSA 4.2, CA-125 35",
        "we raised $1,250 for the walk",
        "HER2+ 3 rounds",
        "",
    ],
)
def test_phi_negatives(text: str) -> None:
    assert find_phi(text) == []


def test_phi_kinds_are_the_documented_four() -> None:
    assert PHI_KINDS == ("phone", "email", "address", "birth_date")


def test_the_ascii_fast_path_folds_exactly_like_the_unicode_path() -> None:
    """``_fold`` skips normalization for ASCII text; the result must be what the full
    NFKC / casefold / NFD path gives, for every ASCII character and in context."""
    import unicodedata

    from rooms import safety

    def slow(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).casefold().translate(safety._CHAR_MAP)
        decomposed = unicodedata.normalize("NFD", text)
        kept = "".join(ch for ch in decomposed
                       if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
        return unicodedata.normalize("NFC", kept)

    samples = ["".join(chr(c) for c in range(128)), "I Can`t Go On", "DON'T WANT TO BE HERE",
               "want to   die\tsoon", "STRASSE \x7f\x00 end"]
    for text in samples:
        assert safety._fold(text) == slow(text), text
    # And a non-ASCII text still takes the full path.
    assert safety._fold("I can\u2019t go on") == "i can't go on"


def test_the_substring_prefilter_never_changes_the_answer(matcher: CrisisMatcher) -> None:
    """``match`` skips the regex when some word of every phrase is missing; over every
    shipped phrase and false friend, in the spellings the pattern allows (case, curly or no
    apostrophes, hyphen as space or nothing, line breaks, accents, full-width letters) and
    inside sentences, the answer must be the regex's own."""
    from rooms import safety

    def regex_only(text: str) -> str | None:
        for hit in matcher._regex.finditer(safety._fold(text)):
            assert hit.lastgroup is not None
            phrase, is_crisis = matcher._by_group[hit.lastgroup]
            if is_crisis:
                return phrase
        return None

    texts = ["", "Thank you all for sharing today", "12 Maple Street", "ending the week well"]
    for phrase in [*matcher.phrases, *matcher.false_friends]:
        for variant in (
            phrase, phrase.upper(), phrase.replace("'", "\u2019"), phrase.replace("'", ""),
            phrase.replace("-", " "), phrase.replace("-", ""), phrase.replace(" ", "\n"),
            phrase.replace("n", "\uff4e"), phrase[: len(phrase) // 2], phrase[1:],
        ):
            texts += [variant, f"honestly, {variant}.", f"{variant}ish", f"why {variant} and {phrase}"]
    assert matcher.match("I want to kill myself") == "kill myself"  # the prefilter lets hits by
    for text in texts:
        assert matcher.match(text) == regex_only(text), text
