"""The offline classifier: a product's catalog text to a category of the Google taxonomy.

It reads the taxonomy's own category names, not a product list. Each category name gives
phrases ("Kitchen & Utility Sinks" gives "kitchen sink" and "utility sink"; "Cabinet Knobs &
Handles" gives "cabinet knob" and "cabinet handle"). The product's text is normalised the same
way (lowercase words, plurals folded, British spellings and trade names mapped to the
taxonomy's words through ``data/vocabulary.toml``: "extractor hood" is a "range hood", a "chest of
drawers" a "dresser"), and phrases are matched backwards from their head noun, so a longer
phrase beats a shorter one ("coffee table" over "table") and a name that only shares the head
noun ("oak shelf") still finds its family. Where the hit sits counts:

- the fields weigh differently: the catalog's category text (and ``product_type``) most, then
  the name, the tags, and the description least;
- in a name the head noun is the last product word of its first part ("Oslo Sofa in Grey"), in
  a breadcrumb the last step ("Living Room > Sofas"), in a description its first sentence;
- a product word after "for", "with", "your" and the like names another product ("cushion for
  your sofa") and counts little;
- words of a category's path that the text shares ("kitchen", "bathroom", "outdoor") settle
  between categories with the same head noun.

The best category's score and its lead over the next unrelated one give a confidence; text in
which no category is found gives no category, confidence 0 and no room (the caller shows it as
"needs a room"). A catalog's own taxonomy id or path wins outright.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from visualizer_core.taxonomy import language
from visualizer_core.taxonomy._data import (
    SEPARATOR,
    Category,
    Kind,
    Placement,
    SizeClass,
    TaxonomyData,
    data,
)
from visualizer_core.taxonomy._text import BOUNDARY, normalize_text, singular, words

__all__ = [
    "UNSURE_BELOW",
    "Candidate",
    "Classification",
    "classify",
    "known_prefix",
    "lookup",
    "phrases_of",
]

UNSURE_BELOW = 0.35
"""Below this confidence a category is a guess: its rooms are not used (the product needs a room
unless its text names one) and :func:`~visualizer_core.taxonomy.normalize_category` says "other"."""

# Field weights: how much a hit in each part of the product's text counts.
_WEIGHTS = {"category": 3.0, "name": 2.5, "tags": 1.0, "description": 0.8}
# Position factors inside a field.
_HEAD, _HEAD_PART, _ELSEWHERE, _RELATED = 1.0, 0.45, 0.3, 0.12
_OWN_WORD, _PATH_WORD, _CONTEXT_CAP = 0.6, 0.3, 2.0
# A category named more broadly in the text lends this share of its score to the categories
# under it ("Outdoor Furniture" and "Teak Sofa" make an outdoor sofa).
_ANCESTOR_SHARE = 0.8
_WHOLE_NAME, _LONE_WORD = 0.3, -0.6
_OUTMATCHED = 0.3
# A catalog's own category this deep (or a leaf) is taken as it is; a broader one ("Furniture")
# is narrowed by the text within its subtree.
_DEEP_ENOUGH = 3
# A score this high (a whole phrase as the head of a name) is a sure answer.
_SURE = 6.0


@dataclass(frozen=True)
class Candidate:
    """A category the text may name, with its score."""

    id: int
    path: str
    score: float


@dataclass(frozen=True)
class Classification:
    """Where a product sits in the taxonomy and what that means for a picture.

    ``taxonomy_id``/``path`` are ``None`` and ``rooms`` holds only rooms the text names
    outright when nothing fits; ``kind`` is a short name ("sofa", "range_hood", "other");
    ``source`` says where the answer came from: ``"catalog"`` (the catalog's own category),
    ``"text"`` (the classifier), ``"none"`` (nothing fits) or ``"unread:LANG"`` (the text is
    not English, which the classifier does not read: :mod:`~visualizer_core.taxonomy.language`).
    """

    taxonomy_id: int | None
    path: str | None
    kind: str
    label: str
    confidence: float
    rooms: tuple[str, ...]
    placement: Placement
    size_class: SizeClass
    height_m: float
    source: str
    candidates: tuple[Candidate, ...] = ()


# -- the vocabulary, prepared once --------------------------------------------------------------


@dataclass(frozen=True)
class _Vocab:
    spellings: dict[str, tuple[str, ...]]
    phrases: dict[tuple[str, ...], tuple[str, ...]]
    longest_phrase: int
    same: dict[str, frozenset[str]]
    relational: frozenset[str]
    negations: frozenset[str]
    stopwords: frozenset[str]
    modifiers: dict[str, str]
    multiword_modifiers: dict[tuple[str, ...], str]
    describing: frozenset[str]
    description_rooms: dict[tuple[str, ...], str]


def _plain(text: str) -> list[str]:
    return [singular(t) for t in words(text)]


@functools.cache
def _vocab() -> _Vocab:
    v = data().vocabulary
    spellings = {singular(k): tuple(_plain(val)) for k, val in v.spellings.items()}
    phrases = {tuple(_plain(k)): tuple(_plain(val)) for k, val in v.phrases.items()}
    same: dict[str, set[str]] = {}
    for group in v.equivalents:
        members = {singular(w) for w in group.words}
        for word in members:
            same.setdefault(word, set()).update(members)
    modifiers: dict[str, str] = {}
    multi: dict[tuple[str, ...], str] = {}
    for room, room_words in v.room_modifiers.items():
        for phrase in room_words:
            tokens = tuple(_plain(phrase))
            if len(tokens) == 1:
                modifiers.setdefault(tokens[0], room)
            else:
                multi.setdefault(tokens, room)
    return _Vocab(
        spellings=spellings,
        phrases=phrases,
        longest_phrase=max((len(k) for k in phrases), default=1),
        same={w: frozenset(s) for w, s in same.items()},
        relational=frozenset(v.relational),
        negations=frozenset(v.negations),
        stopwords=frozenset(singular(w) for w in v.stopwords),
        modifiers=modifiers,
        multiword_modifiers=multi,
        describing=frozenset(t for w in v.modifier_words for t in _plain(w)),
        description_rooms={
            tuple(_plain(phrase)): room
            for room, phrases in v.description_room_words.items()
            for phrase in phrases
        },
    )


def prepare(text: str | None) -> list[str]:
    """Tokens of a text in the taxonomy's words: normalised, singular, phrases and spellings
    mapped (the longest known phrase first), with ``.`` tokens at phrase breaks."""
    if not text:
        return []
    vocab = _vocab()
    # Bare numbers say how many, not what ("Chest of 4 drawers", "2 Seater Sofa"); "and" before
    # a number adds other things to the product ("Duvet Cover and 2 Pillowcases"), like "with".
    normalized = normalize_text(text).split()
    raw = [
        "with"
        if t == "and" and i + 1 < len(normalized) and normalized[i + 1].isdigit()
        else t
        if t == BOUNDARY
        else singular(t)
        for i, t in enumerate(normalized)
        if not t.isdigit()
    ]
    out: list[str] = []
    i = 0
    while i < len(raw):
        for size in range(min(vocab.longest_phrase, len(raw) - i), 0, -1):
            target = vocab.phrases.get(tuple(raw[i : i + size]))
            if target is not None:
                out.extend(target)
                i += size
                break
        else:
            token = raw[i]
            out.extend(vocab.spellings.get(token, (token,)))
            i += 1
    return out


# -- the taxonomy's phrases ----------------------------------------------------------------------


def _parts(name: str) -> list[tuple[list[str], bool]]:
    """A category name's parts ("Kitchen & Dining Room Chairs": "Kitchen", "Dining Room
    Chairs"), each as singular tokens with whether its last word was a plural noun."""
    out = []
    for piece in name.replace(", &", ",").replace(" & ", ",").split(","):
        tokens = words(piece)
        if tokens:
            out.append(([singular(t) for t in tokens], singular(tokens[-1]) != tokens[-1]))
    return out


def phrases_of(name: str) -> list[tuple[str, ...]]:
    """The phrases a category name stands for, in the classifier's tokens.

    Parts joined by "&" or "," share words the way English does: a lone modifier takes the
    last part's head ("Kitchen & Utility Sinks": "kitchen sink"), and a lone last noun takes the
    first part's modifiers ("Cabinet Knobs & Handles": "cabinet handle").
    """
    parts = _parts(name)
    found: list[tuple[str, ...]] = []
    if not parts:
        return found
    last_tokens, _ = parts[-1]
    first_tokens, _ = parts[0]
    for tokens, plural in parts:
        if len(tokens) == 1 and not plural and len(last_tokens) > 1 and tokens != last_tokens:
            found.append((tokens[0], last_tokens[-1]))  # "kitchen" + "sink"
        else:
            found.append(tuple(tokens))
    if len(parts) > 1 and len(last_tokens) == 1 and len(first_tokens) > 1:
        found.append((*first_tokens[:-1], last_tokens[0]))  # "cabinet" + "handle"
    # The taxonomy's own words as they are: the vocabulary maps other words to them, never
    # the other way ("Cots" in camping stay cots; a catalog's "cot" becomes a "crib").
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class _Index:
    by_head: dict[str, tuple[tuple[tuple[str, ...], int, float], ...]]
    own: dict[int, frozenset[str]]
    context: dict[int, frozenset[str]]


@functools.cache
def _index() -> _Index:
    tax = data()
    by_head: dict[str, list[tuple[tuple[str, ...], int, float]]] = {}
    for node in tax.categories.values():
        phrases = phrases_of(node.name)
        whole = len(_parts(node.name)) == 1
        for phrase in phrases:
            # A name that is the phrase says it best; a lone word taken out of a longer
            # name ("Covers" of "Wall Plates & Covers") says least.
            bonus = _WHOLE_NAME if whole else (_LONE_WORD if len(phrase) == 1 else 0.0)
            by_head.setdefault(phrase[-1], []).append((phrase, node.id, bonus))
    for kind in tax.kinds.values():
        for word in kind.words:
            phrase = tuple(prepare(word))
            if phrase:
                for node_id in kind.node_ids:
                    by_head.setdefault(phrase[-1], []).append((phrase, node_id, 0.0))
    stop = _vocab().stopwords
    context = {
        node.id: frozenset(
            t for part in node.path.split(SEPARATOR) for t in _plain(part) if t not in stop
        )
        for node in tax.categories.values()
    }
    own = {
        node.id: frozenset(t for phrase in phrases_of(node.name) for t in phrase if t not in stop)
        for node in tax.categories.values()
    }
    return _Index({h: tuple(v) for h, v in by_head.items()}, own, context)


@functools.cache
def _known_words() -> frozenset[str]:
    """Every word the classifier knows: the taxonomy's and the vocabulary's, normalised."""
    index, vocab = _index(), _vocab()
    found: set[str] = set(index.by_head)
    for words_of in (index.context, index.own):
        for node_words in words_of.values():
            found.update(node_words)
    found.update(vocab.spellings, vocab.same, vocab.stopwords, vocab.describing)
    found.update(vocab.modifiers, vocab.relational, vocab.negations)
    for phrase in [*vocab.phrases, *vocab.multiword_modifiers, *vocab.description_rooms]:
        found.update(phrase)
    return frozenset(found)


def _normal_word(word: str) -> str:
    tokens = _plain(word)
    return tokens[0] if tokens else ""


# -- matching ------------------------------------------------------------------------------------


def _same(a: str, b: str) -> bool:
    return a == b or b in _vocab().same.get(a, frozenset())


@dataclass(frozen=True)
class _Hit:
    node: int
    start: int
    end: int  # the head's position
    strength: float
    describing: bool = False  # a lone material or finish word ("marble", "brass")


def _hits(tokens: Sequence[str], describing: frozenset[str] = frozenset()) -> list[_Hit]:
    """Every phrase that ends at each token, matched backwards from its head."""
    index = _index()
    vocab = _vocab()
    hits: list[_Hit] = []
    for end, token in enumerate(tokens):
        if token == BOUNDARY:
            continue
        # a word like "set" heads only a whole phrase of its own ("dining furniture set")
        weak_head = token in vocab.stopwords
        heads = {token, *vocab.same.get(token, ())}
        for head in heads:
            for phrase, node, bonus in index.by_head.get(head, ()):
                matched = 1
                while matched < len(phrase):
                    at = end - matched
                    if at < 0 or tokens[at] == BOUNDARY:
                        break
                    if not _same(tokens[at], phrase[-1 - matched]):
                        break
                    matched += 1
                complete = matched == len(phrase)
                if weak_head and (not complete or len(phrase) < 2):
                    continue
                start = end - matched + 1
                if start > 0 and tokens[start - 1] in vocab.negations:
                    continue  # "No Drill Blind", "Non Stick Pan": what it is not

                strength = matched - (0.25 if head != token else 0)
                if complete:
                    strength += 1.0 + bonus
                else:
                    strength -= 0.2 * (len(phrase) - matched)
                lone = matched == 1 and (token in vocab.describing or token in describing)
                hits.append(_Hit(node, start, end, strength, lone))
    return hits


def _segments(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of each part between phrase breaks."""
    out, start = [], 0
    for i, token in enumerate([*tokens, BOUNDARY]):
        if token == BOUNDARY:
            if i > start:
                out.append((start, i))
            start = i + 1
    return out


def _score_field(
    tokens: list[str],
    weight: float,
    *,
    head_last_part: bool,
    describing: frozenset[str] = frozenset(),
) -> dict[int, float]:
    """Each category's best score from one field."""
    if not tokens:
        return {}
    vocab = _vocab()
    hits = _hits(tokens, describing)
    if not hits:
        return {}
    best_at: dict[int, float] = {}
    for hit in hits:
        best_at[hit.end] = max(best_at.get(hit.end, 0.0), hit.strength)
    # A position inside a stronger phrase ending later is not a head of its own.
    covered: set[int] = set()
    for hit in hits:
        if hit.strength >= best_at[hit.end] and hit.end > hit.start:
            covered.update(range(hit.start, hit.end))
    ends = sorted(e for e in best_at if e not in covered)
    segments = _segments(tokens)
    with_hits = [s for s in segments if any(s[0] <= e < s[1] for e in ends)]
    if not with_hits:
        return {}
    # The part that names the product: the first (the last, in a category path) whose words
    # name a kind and do not only describe one ("Plain Soft Cream - Day and Night Blinds").
    only_describing = {e for e in ends if all(h.describing for h in hits if h.end == e)}
    naming_parts = [
        s for s in with_hits if any(s[0] <= e < s[1] and e not in only_describing for e in ends)
    ] or with_hits
    head_segment = naming_parts[-1] if head_last_part else naming_parts[0]

    # The head: the last product word of the head part that no relational word comes before.
    def related(pos: int) -> bool:
        """Whether a relational word stands between an earlier product word and ``pos``
        ("Cushion Cover for Sofa"; not "Under Desk Drawer Unit")."""
        seg = next(s for s in segments if s[0] <= pos < s[1])
        for at in range(seg[0], pos):
            if tokens[at] in vocab.relational and any(seg[0] <= e < at for e in ends):
                return True
        return False

    in_head = [e for e in ends if head_segment[0] <= e < head_segment[1]]
    naming = [e for e in in_head if e not in only_describing] or in_head
    free = [e for e in naming if not related(e)]
    head = (free or naming)[-1]
    scores: dict[int, float] = {}
    for hit in hits:
        if hit.end in covered and hit.end != head:
            continue
        if hit.end == head:
            factor = _HEAD
        elif related(hit.end):
            factor = _RELATED
        elif head_segment[0] <= hit.end < head_segment[1]:
            factor = _HEAD_PART
        else:
            factor = _ELSEWHERE
        if hit.describing and hit.end != head:
            factor *= _OUTMATCHED
        if hit.strength < best_at[hit.end] - 0.01:
            factor *= _OUTMATCHED  # a longer phrase ends here: "end table" over "table"
        value = weight * hit.strength * factor
        scores[hit.node] = max(scores.get(hit.node, 0.0), value)
    return scores


def lookup(value: str | int | None) -> Category | None:
    """The category a catalog names by id ("4191") or by path (any case, "Furniture >
    Office Furniture > Desks"); ``None`` when it names none."""
    if value is None:
        return None
    tax = data()
    text = str(value).strip()
    if text.isdigit():
        return tax.categories.get(int(text))
    if text[:1].isdigit() and " - " in text:  # "4191 - Furniture > ..." as in the file
        head = text.split(" - ", 1)[0].strip()
        if head.isdigit():
            return tax.categories.get(int(head))
    parts = [p.strip() for p in text.replace("&gt;", ">").split(">")]
    node_id = tax.by_path.get(SEPARATOR.join(parts).lower())
    return tax.categories.get(node_id) if node_id is not None else None


def known_prefix(path: str) -> tuple[Category | None, str]:
    """The deepest category a breadcrumb starts with, and the steps past it (``""`` when the
    taxonomy knows it whole): "Home & Garden > Decor > Window Treatments > Window Blinds &
    Shades > Blinds" is Window Blinds & Shades, then "Blinds"."""
    steps = [step.strip() for step in path.replace("&gt;", ">").split(">")]
    for count in range(len(steps), 0, -1):
        node = lookup(" > ".join(steps[:count]))
        if node is not None:
            return node, " > ".join(steps[count:])
    return None, path


# A photo at least this much taller than wide counts as tall (a floor lamp, not a table lamp).
TALL_ASPECT = 2.4


def _kind(
    node: Category, text_tokens: Sequence[str], tax: TaxonomyData, aspect: float | None = None
) -> Kind | None:
    joined = " " + " ".join(text_tokens) + " "
    for ancestor in tax.ancestors(node.id):
        kinds = tuple(k for k in tax.kinds_at.get(ancestor.id, ()) if ancestor is node or k.subtree)
        if not kinds:
            continue
        for kind in kinds:
            if any(f" {' '.join(prepare(w))} " in joined for w in kind.words):
                return kind
        tall = [k for k in kinds if k.tall]
        if tall and aspect is not None and aspect >= TALL_ASPECT:
            return tall[0]
        kinds = tuple(k for k in kinds if not k.tall) or kinds
        plain = [k for k in kinds if not k.words]
        return plain[0] if plain else kinds[0]
    return None


_COLOURS = frozenset(
    {"blue", "pink", "green", "gray", "grey", "white", "black", "red", "yellow", "brown", "beige"}
)


def _words(text: str | None) -> list[str]:
    """A text's singular words with phrase breaks, before any vocabulary mapping."""
    return [t if t == BOUNDARY else singular(t) for t in normalize_text(text or "").split()]


def _modifier_rooms(tokens: Sequence[str]) -> list[str]:
    """Rooms named by a qualifying word in a name or category ("Kids' Desk", "Garden Bench")."""
    vocab = _vocab()
    found: list[str] = []
    for i, token in enumerate(tokens):
        if token == BOUNDARY:
            continue
        if i > 0 and tokens[i - 1] in vocab.negations:
            continue
        if i + 1 < len(tokens) and tokens[i + 1] in _COLOURS:
            continue  # a colour's name: "baby blue", "garden green"
        room = vocab.modifiers.get(token)
        if room is None:
            for phrase, multi_room in vocab.multiword_modifiers.items():
                if tuple(tokens[i : i + len(phrase)]) == phrase:
                    room = multi_room
                    break
        if room is not None:
            found.append(room)
    return list(dict.fromkeys(found))


def _description_rooms(tokens: Sequence[str]) -> list[str]:
    """Rooms a description names by use ("weatherproof", "UV resistant"), unless negated."""
    vocab = _vocab()
    found = []
    for phrase, room in vocab.description_rooms.items():
        for i in range(len(tokens) - len(phrase) + 1):
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                before = tokens[max(0, i - 3) : i]
                if not any(t in vocab.negations for t in before):
                    found.append(room)
                    break
    return list(dict.fromkeys(found))


def _result(
    node: Category,
    *,
    confidence: float,
    source: str,
    text_tokens: Sequence[str],
    lead_rooms: Iterable[str],
    candidates: tuple[Candidate, ...] = (),
    aspect: float | None = None,
) -> Classification:
    tax = data()
    kind = _kind(node, text_tokens, tax, aspect)
    rooms = tuple(dict.fromkeys([*lead_rooms, *node.rooms]))
    return Classification(
        taxonomy_id=node.id,
        path=node.path,
        kind=kind.id if kind else node.slug,
        label=kind.label if kind else node.name,
        confidence=round(confidence, 3),
        rooms=rooms,
        placement=node.placement,
        size_class=node.size_class,
        height_m=kind.height_m if kind else node.height_m,
        source=source,
        candidates=candidates,
    )


def _nothing(lead_rooms: Sequence[str], *, source: str = "none") -> Classification:
    return Classification(
        taxonomy_id=None,
        path=None,
        kind="other",
        label="Product",
        confidence=0.0,
        rooms=tuple(dict.fromkeys(lead_rooms)),
        placement="floor",
        size_class="medium",
        height_m=0.5,
        source=source,
    )


def _related_nodes(a: int, b: int) -> bool:
    tax = data()
    return any(n.id == b for n in tax.ancestors(a)) or any(n.id == a for n in tax.ancestors(b))


def classify(
    name: str,
    category: str | None = None,
    description: str | None = None,
    *,
    taxonomy_hint: str | int | None = None,
    tags: Sequence[str] = (),
    room_mentions: Sequence[str] = (),
    describing: Sequence[str] = (),
    aspect: float | None = None,
) -> Classification:
    """Where a product sits in the taxonomy, from its catalog text.

    ``taxonomy_hint`` is the catalog's own ``google_product_category`` (id or path) and wins
    when it names a category; a ``category`` text that is itself a taxonomy id or path wins
    the same way. ``room_mentions`` are rooms the product's own text names outright; they go
    first, and are all the rooms there are when no category fits. ``describing`` are the
    product's own colour and material words, which describe it rather than name it.
    ``aspect`` is the photo's height over its width, where there is a photo: a tall one
    settles between kinds the text leaves open (a floor lamp, not a table lamp).
    """
    tax = data()
    name_tokens = prepare(name)
    category_tokens = prepare(category)
    description_tokens = prepare(description)
    tag_tokens = prepare(" . ".join(tags)) if tags else []
    # A breadcrumb is read by its taxonomy meaning: the steps the taxonomy knows ("Home &
    # Garden" is the home department, not a garden) name no room by their words; only the
    # steps past them, the catalog's own, may ("... > Garden Furniture").
    known, own_steps = known_prefix(category) if category else (None, category)
    lead = [
        *room_mentions,
        # the catalog's own words, before synonyms ("Desk Lamp" is a table lamp for a desk),
        # and after them ("Fire Pit" is a patio heater)
        *_modifier_rooms(_words(own_steps)),
        *_modifier_rooms(_words(name)),
        *_modifier_rooms(prepare(own_steps)),
        *_modifier_rooms(name_tokens),
        *_description_rooms(description_tokens),
    ]
    own_words = frozenset(t for w in describing for t in _plain(w))
    title = [*category_tokens, BOUNDARY, *name_tokens]
    first_sentence = (
        description_tokens[: description_tokens.index(BOUNDARY)]
        if (BOUNDARY in description_tokens)
        else description_tokens
    )

    own = lookup(taxonomy_hint)
    if own is None and category and category.strip().isdigit():
        own = lookup(category)
    if own is None:
        own = known
    if own is not None and (not own.children or own.depth >= _DEEP_ENOUGH):
        return _result(
            own,
            confidence=1.0,
            source="catalog",
            text_tokens=title,
            lead_rooms=lead,
            aspect=aspect,
        )

    if own is None:
        reading = language.reading_of(
            name, category, description, known=_known_words(), normalise=_normal_word
        )
        if not reading.english:
            return _nothing(lead, source=f"unread:{reading.language or 'unknown'}")

    by_field = [
        _score_field(tokens, _WEIGHTS[field], head_last_part=last_part, describing=own_words)
        for tokens, field, last_part in (
            (category_tokens, "category", True),
            (name_tokens, "name", False),
            (tag_tokens, "tags", False),
            (description_tokens, "description", False),
        )
    ]
    scores: dict[int, float] = {}
    for field_scores in by_field:
        for node, value in field_scores.items():
            scores[node] = scores.get(node, 0.0) + value
    if own is not None:
        scores = {n: v for n, v in scores.items() if own in tax.ancestors(n)}
        if not scores:
            return _result(
                own, confidence=1.0, source="catalog", text_tokens=title, lead_rooms=lead
            )
    if not scores:
        return _nothing(lead)

    index = _index()
    vocab = _vocab()
    context_tokens = {
        t
        for t in [*category_tokens, *name_tokens, *tag_tokens, *description_tokens[:40]]
        if t != BOUNDARY and t not in vocab.stopwords
    }
    expanded = set(context_tokens)
    for token in context_tokens:
        expanded.update(vocab.same.get(token, ()))
    ranked: list[tuple[float, int]] = []
    for node_id, value in scores.items():
        department = tax.categories[node_id].department
        own_words = index.own[node_id]
        bonus = min(
            _CONTEXT_CAP,
            _OWN_WORD * len(own_words & expanded)
            + _PATH_WORD * len((index.context[node_id] - own_words) & expanded),
        )
        # A broader category named in another field ("Outdoor Furniture" as the category,
        # "Teak Sofa" as the name) supports this one; the same words twice do not.
        broader = max(
            (
                sum(max(0.0, f.get(a.id, 0.0) - f.get(node_id, 0.0)) for f in by_field)
                for a in tax.ancestors(node_id)[1:]
            ),
            default=0.0,
        )
        weight = tax.department_weight.get(department, 1.0)
        ranked.append(((value + bonus + _ANCESTOR_SHARE * broader) * weight, node_id))
    ranked.sort(key=lambda item: (-item[0], tax.categories[item[1]].depth, item[1]))
    top_score, top_id = ranked[0]
    runner_up = next((s for s, n in ranked[1:] if not _related_nodes(n, top_id)), 0.0)
    lead_share = top_score / (top_score + runner_up)
    confidence = min(1.0, top_score / _SURE) * (0.4 + 0.6 * lead_share)
    candidates = tuple(Candidate(n, tax.categories[n].path, round(s, 3)) for s, n in ranked[:8])
    return _result(
        tax.categories[top_id],
        confidence=max(confidence, 0.9) if own is not None else confidence,
        source="catalog" if own is not None else "text",
        text_tokens=[*title, BOUNDARY, *first_sentence],
        lead_rooms=lead,
        candidates=candidates,
        aspect=aspect,
    )
