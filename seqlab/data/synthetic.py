"""The generated data sets, offline and deterministic for a seed: tweets whose word order decides the sentiment,
sentences whose entity types only context gives, and human-readable dates → ISO dates."""

from __future__ import annotations

import datetime
import random
from pathlib import Path

from seqlab.errors import DataError

# -- the offline default: sentiment decided by word order -------------------------------------------------------------
_POSITIVE = ["good", "great", "tasty", "fresh", "friendly", "lovely", "excellent", "amazing", "nice", "pleasant"]
_NEGATIVE = ["bad", "awful", "bland", "stale", "rude", "terrible", "poor", "horrible", "nasty", "dull"]
_NOUNS = ["food", "service", "coffee", "pizza", "staff", "music", "movie", "hotel", "room", "show", "game", "book"]
#: {A} is the word that decides the label, {B} the opposite word; each example holds one of each
_TEMPLATES = [
    "the {n} was {A}, not {B} at all",
    "the {n} was not {B}, it was {A}",
    "not {B} at all, the {n} was really {A}",
    "i expected the {n} to be {B} but it was {A}",
    "{A}, not {B}: that is how i would describe the {n}",
    "people said the {n} was {B}. honestly it was {A}",
]
_EMOJI_NEUTRAL = ["🍕", "☕", "🎬", "👀", "📚", "🎵"]


def sentiment_order_examples(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` distinct tweet-like ``(text, label)`` pairs, label ``negative``/``positive``, where only the word
    order decides the label: every text holds one positive and one negative word ("the food was good, not bad at
    all" vs "the food was bad, not good at all"), and tweet noise is added independently of the label — so a bag
    of words is at chance and a model that reads in order is not."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < count:
        label = rng.choice(("negative", "positive"))
        good, bad = rng.choice(_POSITIVE), rng.choice(_NEGATIVE)
        if rng.random() < 0.2:
            stretched = rng.choice((0, 1))
            word = (good, bad)[stretched]
            vowel = next((i for i in range(len(word) - 1, -1, -1) if word[i] in "aeiou"), len(word) - 1)
            word = word[: vowel + 1] + word[vowel] * rng.randint(2, 5) + word[vowel + 1 :]
            good, bad = (word, bad) if stretched == 0 else (good, word)
        a, b = (good, bad) if label == "positive" else (bad, good)
        text = rng.choice(_TEMPLATES).format(n=rng.choice(_NOUNS), A=a, B=b)
        if rng.random() < 0.3:
            text = f"@user{rng.randint(1, 999)} {text}"
        if rng.random() < 0.2:
            text += f" #{rng.choice(_NOUNS)}lover"
        if rng.random() < 0.15:
            text += f" https://t.co/{rng.randrange(16**6):06x}"
        if rng.random() < 0.2:
            text += " " + rng.choice(_EMOJI_NEUTRAL)
        if text not in seen:
            seen.add(text)
            out.append((text, label))
    return out


# -- the offline default: entity types decided by a cue on the left OR on the right -----------------------------------
#: words that name a person, a place or an organisation depending on context ("jordan said" / "in jordan")
_NAMES = ["jordan", "paris", "georgia", "washington", "victoria", "florence", "chelsea", "austin", "sydney",
          "madison", "lincoln", "charlotte", "dallas", "phoenix", "camden", "orlando"]
#: second words of two-word names (tagged I-<type> after a first name)
_SECOND = ["hill", "park", "bay", "rock", "falls", "grove"]
_LEFT_CUES = {"PER": ["mr", "mrs", "dr"], "LOC": ["in", "near", "across"], "ORG": ["firm", "brand", "club"]}
_RIGHT_CUES = {"PER": ["said", "smiled", "sneezed"], "LOC": ["flooded", "froze", "thawed"],
               "ORG": ["merged", "hired", "rebranded"]}
_FILLER = ["yesterday", "we", "heard", "that", "today", "then", "suddenly", "again", "news", "reports", "and",
           "everyone", "knew", "quietly", "later", "once"]
_POS = {**{w: "ADV" for w in ("yesterday", "today", "then", "suddenly", "again", "quietly", "later", "once")},
        **{w: "PRON" for w in ("we", "everyone")}, "heard": "VERB", "knew": "VERB", "that": "SCONJ",
        "news": "NOUN", "reports": "NOUN", "and": "CCONJ", "mr": "PROPN", "mrs": "PROPN", "dr": "PROPN",
        "in": "ADP", "near": "ADP", "across": "ADP", "firm": "NOUN", "brand": "NOUN", "club": "NOUN"}


def synthetic_entity_sentences(count: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """``count`` sentences ``(words, BIO tags)`` whose entity names (``jordan``, ``paris hill`` …) are PER, LOC or
    ORG only by context: each entity has one cue word, either just before it (``mr jordan``, ``in jordan``,
    ``firm jordan``) or just after it (``jordan said``, ``jordan flooded``, ``jordan merged``), with neutral filler
    words around. A tagger reading left to right sees only half of the cues; a bidirectional one sees all."""
    rng = random.Random(seed)

    def filler(most: int) -> list[tuple[str, str]]:
        return [(word, "O") for word in rng.sample(_FILLER, rng.randint(0, most))]

    sentences = []
    for _ in range(count):
        pairs = filler(3)
        for entity in range(rng.randint(1, 2)):
            if entity:
                pairs.append(("and", "O"))
            kind = rng.choice(("PER", "LOC", "ORG"))
            name = [rng.choice(_NAMES)] + ([rng.choice(_SECOND)] if rng.random() < 0.3 else [])
            tagged = [(word, f"{'I' if i else 'B'}-{kind}") for i, word in enumerate(name)]
            if rng.random() < 0.5:
                pairs += [(rng.choice(_LEFT_CUES[kind]), "O"), *tagged, *filler(1)]
            else:
                pairs += [*filler(1), *tagged, (rng.choice(_RIGHT_CUES[kind]), "O")]
        pairs += filler(2)
        sentences.append(([w for w, _ in pairs], [t for _, t in pairs]))
    return sentences


def write_conllu(path: Path, sentences: list[tuple[list[str], list[str]]]) -> None:
    """Write ``(words, BIO tags)`` sentences as CoNLL-U: the entity tag in MISC (``NER=B-PER``), a UPOS guess."""
    with path.open("w", encoding="utf-8") as out:
        for number, (words, tags) in enumerate(sentences, start=1):
            out.write(f"# sent_id = {number}\n# text = {' '.join(words)}\n")
            for i, (word, tag) in enumerate(zip(words, tags), start=1):
                upos = "PROPN" if tag != "O" else _POS.get(word, "VERB")
                out.write(f"{i}\t{word}\t{word}\t{upos}\t_\t_\t_\t_\t_\tNER={tag}\n")
            out.write("\n")


# -- the offline translation default: human-readable dates → ISO dates ---------------------------------------------
#: Babel locales and date patterns of the offline default; numeric formats whose field order depends on the locale
#: (``4/14/35`` vs ``14/04/35``) are left out, since the source text does not say its locale
DATE_LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL")
DATE_FORMATS = ("full", "long", "medium", "d MMM y", "d MMMM y", "dd.MM.y", "EEEE d MMMM y", "MMMM d, y", "d MMM, y")


def human_dates(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` pairs ``(human-readable date, ISO date)``, each ISO date at most once (so splits never share a
    date): dates from 1950–2049 drawn by Faker, written by Babel in one of :data:`DATE_FORMATS` and
    :data:`DATE_LOCALES` (``"samedi 14 avril 2035"`` → ``"2035-04-14"``). Deterministic for a ``seed``."""
    from babel.dates import format_date
    from faker import Faker

    fake = Faker()
    fake.seed_instance(seed)
    start, end = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
    if count > (end - start).days + 1:
        raise DataError(f"data.num_examples={count}: there are only {(end - start).days + 1} distinct dates")
    pairs: dict[str, str] = {}
    while len(pairs) < count:
        date = fake.date_between(start, end)
        iso = date.isoformat()
        if iso in pairs:
            continue
        text = format_date(date, format=fake.random_element(DATE_FORMATS), locale=fake.random_element(DATE_LOCALES))
        pairs[iso] = text.lower() if fake.random.random() < 0.3 else text
    return [(text, iso) for iso, text in pairs.items()]
