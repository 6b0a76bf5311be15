"""Which posts are in a language the model reads well (English), by a cheap heuristic.

all-MiniLM-L6-v2 and every training corpus but a few seed posts are English, so labels for other
languages are unreliable. A post is flagged when its source says it is not English (the record's
`lang`, e.g. X's or Mastodon's language tag) or, without a tag, when
- most of its letters are in a non-Latin script (Japanese, Cyrillic, Arabic, ...), or
- it is Latin-script and has more common function words of another language than of English.
No model and no dependency: about 10 microseconds a post. Short posts with no evidence either
way (an emoji, "github down") count as English.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

SUPPORTED_LANGUAGES = frozenset({"en"})
UNKNOWN = "und"

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words that are frequent in short posts and rare in English ones. Words that are
# also English ("a", "in", "to", "die", "come", "son") are left out.
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and is are was to of it this that for with not my i you me what why have has "
        "can can't cant just again be so we they its it's on at from but all no any "
        "anyone anything do does don't dont i'm im been will would in an a up down out if or "
        "as by how when who our your he she there here get got"),
    "es": _words(
        "el la los las que es por para con una un está esta no se cayó mi qué porque pero "
        "muy ya nada otra vez hoy todo también del al lo le sí tengo puedo funciona y cómo "
        "alguien nadie este dos mes desde"),
    "pt": _words(
        "o os as que é não para com uma um está por isso já muito nada de novo hoje "
        "também do da dos das ao na no meu minha tô está funciona consigo nos em desde "
        "erro"),
    "de": _words(
        "der das ist und nicht ich es ein eine mit auf für schon wieder geht mal auch "
        "kann keine kein bei nach wie heute mein meine noch nur sehr warum funktioniert "
        "neues neue neuer komplett"),
    "fr": _words(
        "le la les est et pas je ne une un des du avec pour sur encore marche plus ce "
        "qui que mon ma mes aujourd'hui toujours rien fonctionne depuis c'est j'ai il à "
        "alors de en m'a"),
    "it": _words(
        "il lo gli è e non di che una un con sono ancora oggi funziona niente "
        "perché anche mio mia già"),
    "nl": _words(
        "de het een is niet en ik van dat met voor weer werkt geen ook nog vandaag "
        "mijn waarom"),
    "id": _words(
        "yang dan tidak ini itu ada saya bisa lagi sudah gak nggak kenapa dengan untuk "
        "belum juga"),
    "tr": _words("bir ve bu da de çok değil ne neden yine hiç ama şu"),
}


def _languages_of_words() -> dict[str, tuple[str, ...]]:
    """word -> the languages whose function words include it: one lookup per word."""
    index: dict[str, tuple[str, ...]] = {}
    for lang, vocab in _FUNCTION_WORDS.items():
        for word in vocab:
            index[word] = (*index.get(word, ()), lang)
    return index


_LANGUAGES_OF_WORD = _languages_of_words()
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_HANDLE_OR_LINK = re.compile(r"(?<!\w)@\w+|https?://\S+|www\.\S+|#\w+")
# Share of letters outside the Latin script above which a post is not Latin-script (lower than
# a half: product names in such posts are usually written in Latin letters).
_NON_LATIN_SHARE = 0.3
# A Latin-script post is another language only on this much evidence.
_MIN_FOREIGN_HITS = 2

# Unicode script -> ISO 639-1 code where one language dominates the script.
_SCRIPT_LANGUAGE = {
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "CJK": "zh",
    "HANGUL": "ko",
    "CYRILLIC": "ru",
    "ARABIC": "ar",
    "HEBREW": "he",
    "GREEK": "el",
    "THAI": "th",
    "DEVANAGARI": "hi",
}


def detect_language(text: str) -> str:
    """An ISO 639-1 code, or "und" when there is no evidence (no letters, a bare name)."""
    text = _HANDLE_OR_LINK.sub(" ", text[:2000])
    latin = len(_ASCII_LETTER.findall(text))  # only the other characters need a script lookup
    scripts: dict[str, int] = {}
    for char in _NON_ASCII.findall(text):
        if not char.isalpha():
            continue
        script = _script(char)
        if script == "LATIN":
            latin += 1
        else:
            scripts[script] = scripts.get(script, 0) + 1
    other = sum(scripts.values())
    if latin + other == 0:
        return UNKNOWN
    if other / (latin + other) > _NON_LATIN_SHARE:
        if "HIRAGANA" in scripts or "KATAKANA" in scripts:
            return "ja"  # Japanese mixes kana with CJK ideographs
        top = max(scripts, key=lambda s: scripts[s])
        return _SCRIPT_LANGUAGE.get(top, UNKNOWN)
    return _latin_language(text.lower())


def is_supported(lang: str | None, text: str) -> tuple[str, bool]:
    """(language, whether the model reads it well). A record's own `lang` tag wins over the
    heuristic; "und" (undetermined) and missing tags fall back to it."""
    tag = (lang or "").strip().lower().replace("_", "-").split("-")[0]
    language = tag if tag and tag not in {UNKNOWN, "zxx", "qme", "qht", "art"} else ""
    language = language or detect_language(text)
    return language, language in SUPPORTED_LANGUAGES or language == UNKNOWN


def _latin_language(lowered: str) -> str:
    words = _WORD.findall(lowered)
    if not words:
        return UNKNOWN
    hits = dict.fromkeys(_FUNCTION_WORDS, 0)
    for word in words:
        for lang in _LANGUAGES_OF_WORD.get(word, ()):
            hits[lang] += 1
    if not lowered.isascii():
        for letters, lang in _MARKER_LETTERS.items():  # letters English never uses
            hits[lang] += sum(lowered.count(c) for c in letters)
    english = hits.pop("en")
    best = max(hits, key=lambda lang: hits[lang])
    if hits[best] >= _MIN_FOREIGN_HITS and hits[best] > english:
        return best
    if english == 0 and hits[best] >= 1 and (len(words) >= 3 or _has_non_english_letters(lowered)):
        return best
    return "en" if english else UNKNOWN


_MARKER_LETTERS = {"ñ¿¡": "es", "ãõ": "pt", "äöüß": "de", "àèùœ": "fr", "ğış": "tr"}


def _has_non_english_letters(lowered: str) -> bool:
    return any(c in "áéíóúñçãõâêôàèìòùäöüßœ¿¡" for c in lowered)


@lru_cache(maxsize=4096)
def _script(char: str) -> str:
    try:
        name = unicodedata.name(char)
    except ValueError:
        return "UNKNOWN"
    first = name.split(" ")[0]
    return "CJK" if first.startswith("CJK") else first
