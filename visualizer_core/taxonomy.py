"""The room and product taxonomy: one source of truth for room types and product categories.

Everything that names a room or a category (the analysers, matching, the compositor, the
Gemini prompts, the studio's pickers) uses the ids defined here:

- :data:`ROOM_TYPES` maps a room type id to its display label.
- :data:`CATEGORIES` lists the category ids; :data:`CATEGORY_INFO` holds what each one means
  for a picture: the rooms it belongs in (best first), where it stands, its size class, its
  typical real height, and the words catalogs use for it.

Free text is mapped to ids by :func:`normalize_room_type` and :func:`normalize_category`.
Both ignore case, spacing and punctuation, and accept plurals.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from visualizer_core.errors import InvalidInput

__all__ = [
    "CATEGORIES",
    "CATEGORY_INFO",
    "ROOM_TYPES",
    "CategoryInfo",
    "Placement",
    "SizeClass",
    "UnknownCategory",
    "UnknownRoomType",
    "category_info",
    "find_room_mentions",
    "is_department",
    "normalize_category",
    "normalize_room_type",
    "normalize_text",
    "room_types_for",
]

Placement = Literal["floor", "surface", "wall", "ceiling"]
SizeClass = Literal["small", "medium", "large"]


class UnknownRoomType(InvalidInput, ValueError):
    """Text that names no known room type (also a ``ValueError`` for generic callers)."""


class UnknownCategory(InvalidInput, LookupError):
    """Text that names no known product category (also a ``LookupError``)."""


# -- room types ---------------------------------------------------------------------------------

ROOM_TYPES: dict[str, str] = {
    "living_room": "Living room",
    "bedroom": "Bedroom",
    "dining_room": "Dining room",
    "kitchen": "Kitchen",
    "home_office": "Home office",
    "bathroom": "Bathroom",
    "entryway": "Entryway",
    "kids_room": "Kids' room",
    "outdoor": "Outdoor",
}

# What people call each room. The id and the label are accepted without being listed.
_ROOM_SYNONYMS: dict[str, tuple[str, ...]] = {
    "living_room": (
        "living",
        "living area",
        "living space",
        "lounge",
        "lounge room",
        "sitting room",
        "family room",
        "front room",
        "drawing room",
        "great room",
        "den",
        "tv room",
        "media room",
        "snug",
        "parlour",
        "parlor",
    ),
    "bedroom": (
        "bed room",
        "master",
        "master bedroom",
        "primary bedroom",
        "guest room",
        "guest bedroom",
        "main bedroom",
        "sleeping area",
        "boudoir",
        "loft bedroom",
    ),
    "dining_room": (
        "dining",
        "dining area",
        "dining space",
        "dinning room",
        "breakfast room",
        "eating area",
    ),
    "kitchen": (
        "kitchenette",
        "kitchen diner",
        "galley",
        "pantry",
        "scullery",
        "cookhouse",
        "breakfast nook",
    ),
    "home_office": (
        "office",
        "study",
        "study room",
        "work from home",
        "wfh",
        "workspace",
        "work space",
        "workroom",
        "home study",
        "library",
        "den office",
    ),
    "bathroom": (
        "bath",
        "bath room",
        "washroom",
        "shower room",
        "wet room",
        "en suite",
        "ensuite",
        "en suite bathroom",
        "powder room",
        "restroom",
        "lavatory",
        "toilet",
        "wc",
        "cloakroom",
        "spa",
    ),
    "entryway": (
        "entry",
        "entryway",
        "entry way",
        "entrance",
        "entrance hall",
        "entry hall",
        "hall",
        "hallway",
        "foyer",
        "mudroom",
        "mud room",
        "corridor",
        "vestibule",
        "landing",
        "porch entry",
    ),
    "kids_room": (
        "kids",
        "kids room",
        "kid room",
        "kids bedroom",
        "childrens room",
        "children room",
        "childs room",
        "child room",
        "childrens bedroom",
        "nursery",
        "playroom",
        "play room",
        "baby room",
        "teen room",
        "teen bedroom",
    ),
    "outdoor": (
        "outdoors",
        "outside",
        "exterior",
        "patio",
        "garden",
        "balcony",
        "terrace",
        "deck",
        "decking",
        "porch",
        "veranda",
        "verandah",
        "backyard",
        "back yard",
        "yard",
        "courtyard",
        "rooftop",
        "roof terrace",
        "poolside",
        "pergola",
        "lanai",
    ),
}

# Room words too ambiguous to count when they turn up in a product's own text ("entry-level",
# "living", "a study in contrast", "tape deck"); they are still accepted as a whole room name.
_AMBIGUOUS_ROOM_WORDS = frozenset(
    {
        "living",
        "entry",
        "entrance",
        "den",
        "landing",
        "deck",
        "yard",
        "master",
        "spa",
        "galley",
        "library",
        "snug",
        "exterior",
        "outside",
        "kids",
        "study",
        "hall",
        "lounge",
    }
)


# -- categories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryInfo:
    """What a product category means for a picture.

    ``room_types`` are the rooms it belongs in, best first; ``placement`` is where it stands
    (floor, surface, wall or ceiling); ``real_height_m`` is a typical height in metres, which
    the compositor uses for scale; ``synonyms`` are the words catalogs use for it, and
    ``generic_words`` are vaguer words that count only when nothing specific is found.
    """

    id: str
    label: str
    room_types: tuple[str, ...]
    placement: Placement
    size_class: SizeClass
    real_height_m: float
    synonyms: tuple[str, ...] = ()
    generic_words: tuple[str, ...] = ()


_LIVING, _BED, _DINING, _KITCHEN = "living_room", "bedroom", "dining_room", "kitchen"
_OFFICE, _BATH, _ENTRY, _KIDS, _OUT = (
    "home_office",
    "bathroom",
    "entryway",
    "kids_room",
    "outdoor",
)

_INFOS: tuple[CategoryInfo, ...] = (
    CategoryInfo(
        "sofa",
        "Sofa",
        (_LIVING, _OFFICE, _BED),
        "floor",
        "large",
        0.85,
        (
            "sofa",
            "couch",
            "settee",
            "loveseat",
            "love seat",
            "sectional",
            "sectional sofa",
            "corner sofa",
            "modular sofa",
            "chesterfield",
            "chaise longue",
            "chaise lounge",
            "chaise",
            "sofa bed",
            "sleeper sofa",
            "futon",
            "daybed",
            "day bed",
            "2 seater",
            "3 seater",
            "4 seater",
            "two seater",
            "three seater",
            "2 seat sofa",
            "3 seat sofa",
        ),
        ("seater",),
    ),
    CategoryInfo(
        "armchair",
        "Armchair",
        (_LIVING, _BED, _OFFICE),
        "floor",
        "medium",
        0.85,
        (
            "armchair",
            "arm chair",
            "accent chair",
            "lounge chair",
            "club chair",
            "wingback",
            "wingback chair",
            "wing chair",
            "recliner",
            "reclining chair",
            "rocking chair",
            "rocker",
            "occasional chair",
            "tub chair",
            "barrel chair",
            "slipper chair",
            "egg chair",
            "swivel chair",
            "easy chair",
            "reading chair",
            "papasan",
            "bean bag",
            "beanbag",
            "cocktail chair",
        ),
        ("chair", "seat", "seating"),
    ),
    CategoryInfo(
        "ottoman",
        "Ottoman",
        (_LIVING, _BED),
        "floor",
        "small",
        0.42,
        ("ottoman", "pouf", "pouffe", "footstool", "foot stool", "footrest", "hassock"),
    ),
    CategoryInfo(
        "coffee_table",
        "Coffee table",
        (_LIVING,),
        "floor",
        "medium",
        0.45,
        (
            "coffee table",
            "cocktail table",
            "center table",
            "centre table",
            "lift top table",
            "nesting coffee table",
        ),
    ),
    CategoryInfo(
        "side_table",
        "Side table",
        (_LIVING, _BED, _OFFICE),
        "floor",
        "small",
        0.55,
        (
            "side table",
            "end table",
            "accent table",
            "lamp table",
            "occasional table",
            "nesting table",
            "nest of tables",
            "nesting tables",
            "c table",
            "drinks table",
            "martini table",
            "tray table",
            "sofa side table",
        ),
    ),
    CategoryInfo(
        "console_table",
        "Console table",
        (_ENTRY, _LIVING, _DINING),
        "floor",
        "medium",
        0.8,
        (
            "console table",
            "console",
            "sofa table",
            "hall table",
            "hallway table",
            "entryway table",
            "entry table",
            "entrance table",
        ),
    ),
    CategoryInfo(
        "tv_stand",
        "TV stand",
        (_LIVING, _BED),
        "floor",
        "large",
        0.5,
        (
            "tv stand",
            "tv unit",
            "tv cabinet",
            "tv bench",
            "tv console",
            "tv table",
            "television stand",
            "television unit",
            "media console",
            "media unit",
            "media cabinet",
            "media stand",
            "entertainment center",
            "entertainment centre",
            "entertainment unit",
            "av unit",
            "lowboard",
        ),
    ),
    CategoryInfo(
        "bookshelf",
        "Bookshelf",
        (_LIVING, _OFFICE, _BED, _KIDS),
        "floor",
        "large",
        1.8,
        (
            "bookshelf",
            "bookshelves",
            "book shelf",
            "book shelves",
            "bookcase",
            "book case",
            "shelving unit",
            "shelving",
            "shelf",
            "shelves",
            "etagere",
            "ladder shelf",
            "wall shelf",
            "floating shelf",
            "cube shelf",
            "cube storage",
            "storage unit",
            "display shelf",
        ),
    ),
    CategoryInfo(
        "floor_lamp",
        "Floor lamp",
        (_LIVING, _BED, _OFFICE),
        "floor",
        "medium",
        1.6,
        (
            "floor lamp",
            "floor light",
            "floor standing lamp",
            "standard lamp",
            "standing lamp",
            "arc lamp",
            "arc floor lamp",
            "torchiere",
            "torchere",
            "tripod floor lamp",
            "uplighter",
        ),
    ),
    CategoryInfo(
        "table_lamp",
        "Table lamp",
        (_LIVING, _BED, _OFFICE),
        "surface",
        "small",
        0.5,
        (
            "table lamp",
            "desk lamp",
            "bedside lamp",
            "task lamp",
            "accent lamp",
            "buffet lamp",
            "mushroom lamp",
            "night light",
            "lamp base",
            "reading lamp",
            "table light",
            "desk light",
        ),
        ("lamp",),
    ),
    CategoryInfo(
        "pendant_light",
        "Pendant light",
        (_DINING, _LIVING, _KITCHEN, _BED, _ENTRY),
        "ceiling",
        "medium",
        0.4,
        (
            "pendant",
            "pendant light",
            "pendant lamp",
            "ceiling light",
            "ceiling lamp",
            "ceiling pendant",
            "chandelier",
            "hanging lamp",
            "hanging light",
            "suspension lamp",
            "flush mount",
            "semi flush",
            "ceiling fixture",
            "light fitting",
            "lampshade",
            "lamp shade",
            "ceiling shade",
        ),
        ("light", "lighting"),
    ),
    CategoryInfo(
        "wall_light",
        "Wall light",
        (_LIVING, _BED, _BATH, _ENTRY),
        "wall",
        "small",
        0.3,
        ("wall light", "wall lamp", "sconce", "wall sconce", "picture light", "wall lighting"),
    ),
    CategoryInfo(
        "rug",
        "Rug",
        (_LIVING, _BED, _DINING, _OFFICE, _KIDS, _ENTRY),
        "floor",
        "large",
        0.01,
        (
            "rug",
            "area rug",
            "runner",
            "runner rug",
            "hall runner",
            "carpet",
            "kilim",
            "dhurrie",
            "doormat",
            "door mat",
            "sheepskin rug",
            "hide rug",
            "cowhide rug",
        ),
        ("mat",),
    ),
    CategoryInfo(
        "wall_art",
        "Wall art",
        (_LIVING, _BED, _DINING, _OFFICE, _ENTRY, _KIDS),
        "wall",
        "medium",
        0.6,
        (
            "wall art",
            "art print",
            "print",
            "poster",
            "canvas",
            "painting",
            "framed print",
            "framed art",
            "artwork",
            "wall hanging",
            "tapestry",
            "wall decor",
            "wall sculpture",
            "wall clock",
            "photograph",
            "illustration",
            "picture frame",
            "photo frame",
            "lithograph",
        ),
        ("art", "frame"),
    ),
    CategoryInfo(
        "mirror",
        "Mirror",
        (_ENTRY, _BED, _LIVING, _BATH),
        "wall",
        "medium",
        0.9,
        (
            "mirror",
            "wall mirror",
            "floor mirror",
            "full length mirror",
            "standing mirror",
            "vanity mirror",
            "looking glass",
        ),
    ),
    CategoryInfo(
        "plant",
        "Plant",
        (_LIVING, _BED, _OFFICE, _BATH, _KITCHEN, _ENTRY, _OUT),
        "floor",
        "medium",
        1.0,
        (
            "plant",
            "houseplant",
            "house plant",
            "artificial plant",
            "faux plant",
            "fake plant",
            "potted plant",
            "artificial tree",
            "faux tree",
            "olive tree",
            "fiddle leaf fig",
            "monstera",
            "succulent",
            "cactus",
            "pothos",
            "snake plant",
            "peace lily",
            "rubber plant",
            "zz plant",
            "trailing plant",
            "hanging plant",
            "bonsai",
            "orchid",
            "dried flowers",
            "faux flowers",
            "artificial flowers",
            "bouquet",
            "eucalyptus",
            "pampas grass",
        ),
        ("palm", "tree", "flowers", "fern", "ivy"),
    ),
    CategoryInfo(
        "vase",
        "Vase",
        (_LIVING, _DINING, _BED, _ENTRY, _OFFICE),
        "surface",
        "small",
        0.3,
        ("vase", "bud vase", "urn", "vessel", "flower vase", "amphora"),
    ),
    CategoryInfo(
        "decor",
        "Decorative accessory",
        (_LIVING, _BED, _DINING, _OFFICE, _ENTRY),
        "surface",
        "small",
        0.25,
        (
            "candle",
            "candle holder",
            "candlestick",
            "candelabra",
            "tealight holder",
            "hurricane",
            "lantern",
            "sculpture",
            "figurine",
            "ornament",
            "bookend",
            "decorative bowl",
            "decorative tray",
            "tray",
            "diffuser",
            "trinket box",
            "desk organiser",
            "desk organizer",
            "storage basket",
            "table clock",
            "alarm clock",
            "string lights",
            "fairy lights",
            "decorative object",
            "objet",
        ),
        ("decor", "decoration", "accessory", "accessories", "basket", "clock"),
    ),
    CategoryInfo(
        "cushion",
        "Cushion",
        (_LIVING, _BED, _KIDS),
        "surface",
        "small",
        0.45,
        (
            "cushion",
            "cushion cover",
            "scatter cushion",
            "throw pillow",
            "pillow",
            "pillow cover",
            "accent pillow",
            "decorative pillow",
            "lumbar pillow",
            "bolster",
            "floor cushion",
        ),
    ),
    CategoryInfo(
        "throw_blanket",
        "Throw blanket",
        (_LIVING, _BED),
        "surface",
        "small",
        0.3,
        ("throw", "throw blanket", "blanket", "knit throw", "sofa throw", "bed throw", "afghan"),
    ),
    CategoryInfo(
        "bedding",
        "Bedding",
        (_BED, _KIDS),
        "surface",
        "medium",
        0.5,
        (
            "bedding",
            "bed linen",
            "duvet",
            "duvet cover",
            "duvet set",
            "quilt",
            "bedspread",
            "comforter",
            "coverlet",
            "sheet set",
            "fitted sheet",
            "flat sheet",
            "pillowcase",
            "pillow case",
            "bed sheet",
        ),
    ),
    CategoryInfo(
        "curtain",
        "Curtain",
        (_LIVING, _BED, _DINING, _KIDS),
        "wall",
        "large",
        2.4,
        ("curtain", "curtains", "drape", "drapes", "window panel", "blind", "roman blind"),
    ),
    CategoryInfo(
        "bed",
        "Bed",
        (_BED,),
        "floor",
        "large",
        1.1,
        (
            "bed",
            "bed frame",
            "bedframe",
            "bedstead",
            "platform bed",
            "double bed",
            "single bed",
            "king bed",
            "queen bed",
            "king size bed",
            "queen size bed",
            "canopy bed",
            "four poster bed",
            "four poster",
            "divan",
            "headboard",
            "upholstered bed",
            "storage bed",
            "ottoman bed",
            "sleigh bed",
        ),
    ),
    CategoryInfo(
        "nightstand",
        "Nightstand",
        (_BED,),
        "floor",
        "small",
        0.55,
        (
            "nightstand",
            "night stand",
            "bedside table",
            "bedside cabinet",
            "bedside",
            "bedside drawers",
            "night table",
        ),
    ),
    CategoryInfo(
        "dresser",
        "Dresser",
        (_BED, _KIDS, _ENTRY),
        "floor",
        "medium",
        0.85,
        (
            "dresser",
            "chest of drawers",
            "chest",
            "drawers",
            "tallboy",
            "lowboy",
            "dressing table",
            "vanity table",
            "commode",
            "drawer unit",
        ),
    ),
    CategoryInfo(
        "wardrobe",
        "Wardrobe",
        (_BED, _KIDS),
        "floor",
        "large",
        2.0,
        (
            "wardrobe",
            "armoire",
            "closet",
            "clothes rack",
            "clothes rail",
            "clothing rail",
            "clothing rack",
            "garment rack",
            "garment rail",
        ),
    ),
    CategoryInfo(
        "desk",
        "Desk",
        (_OFFICE, _BED, _KIDS),
        "floor",
        "large",
        0.75,
        (
            "desk",
            "writing desk",
            "computer desk",
            "standing desk",
            "sit stand desk",
            "height adjustable desk",
            "secretary desk",
            "secretaire",
            "bureau",
            "workstation",
            "office desk",
            "study desk",
            "study table",
            "writing table",
            "ladder desk",
        ),
    ),
    CategoryInfo(
        "office_chair",
        "Office chair",
        (_OFFICE,),
        "floor",
        "medium",
        1.0,
        (
            "office chair",
            "desk chair",
            "task chair",
            "ergonomic chair",
            "computer chair",
            "gaming chair",
            "executive chair",
            "study chair",
            "swivel office chair",
            "work chair",
        ),
    ),
    CategoryInfo(
        "dining_table",
        "Dining table",
        (_DINING, _KITCHEN),
        "floor",
        "large",
        0.75,
        (
            "dining table",
            "kitchen table",
            "dinner table",
            "extendable table",
            "extending table",
            "extendable dining table",
            "dining set",
            "breakfast table",
            "farmhouse table",
            "refectory table",
            "trestle table",
            "pedestal table",
            "round table",
        ),
        ("table",),
    ),
    CategoryInfo(
        "dining_chair",
        "Dining chair",
        (_DINING, _KITCHEN),
        "floor",
        "medium",
        0.85,
        (
            "dining chair",
            "kitchen chair",
            "side chair",
            "carver chair",
            "carver",
            "dining armchair",
            "windsor chair",
            "wishbone chair",
            "bistro chair",
            "cafe chair",
        ),
    ),
    CategoryInfo(
        "bar_stool",
        "Bar stool",
        (_KITCHEN, _DINING),
        "floor",
        "medium",
        0.9,
        (
            "bar stool",
            "barstool",
            "counter stool",
            "counter height stool",
            "kitchen stool",
            "bar chair",
            "counter chair",
            "breakfast bar stool",
        ),
        ("stool",),
    ),
    CategoryInfo(
        "bench",
        "Bench",
        (_ENTRY, _DINING, _BED, _LIVING),
        "floor",
        "medium",
        0.45,
        (
            "bench",
            "storage bench",
            "entryway bench",
            "hallway bench",
            "hall bench",
            "dining bench",
            "bed bench",
            "end of bed bench",
            "window seat",
        ),
    ),
    CategoryInfo(
        "sideboard",
        "Sideboard",
        (_DINING, _LIVING, _KITCHEN),
        "floor",
        "large",
        0.8,
        (
            "sideboard",
            "buffet",
            "credenza",
            "buffet cabinet",
            "cupboard",
            "hutch",
            "display cabinet",
            "drinks cabinet",
            "bar cabinet",
            "cocktail cabinet",
            "bar cart",
            "drinks trolley",
            "storage cabinet",
            "highboard",
            "china cabinet",
            "vitrine",
        ),
        ("cabinet", "storage"),
    ),
    CategoryInfo(
        "cookware",
        "Cookware",
        (_KITCHEN,),
        "surface",
        "small",
        0.2,
        (
            "cookware",
            "pan",
            "frying pan",
            "skillet",
            "saucepan",
            "sauce pan",
            "stock pot",
            "stockpot",
            "cooking pot",
            "pots and pans",
            "dutch oven",
            "casserole",
            "casserole dish",
            "wok",
            "kettle",
            "teapot",
            "cafetiere",
            "french press",
            "baking dish",
            "bakeware",
            "roasting tin",
            "roasting pan",
            "knife",
            "knives",
            "knife block",
            "knife set",
            "kitchen utensils",
            "utensil set",
            "cutting board",
            "chopping board",
            "mixing bowl",
            "colander",
        ),
    ),
    CategoryInfo(
        "tableware",
        "Tableware",
        (_DINING, _KITCHEN),
        "surface",
        "small",
        0.15,
        (
            "tableware",
            "dinnerware",
            "dinner set",
            "dinner plate",
            "plate",
            "side plate",
            "serving bowl",
            "salad bowl",
            "fruit bowl",
            "mug",
            "cup",
            "teacup",
            "glassware",
            "tumbler",
            "wine glass",
            "champagne flute",
            "carafe",
            "decanter",
            "pitcher",
            "jug",
            "cutlery",
            "flatware",
            "platter",
            "serving board",
            "cheese board",
            "table runner",
            "placemat",
            "place mat",
            "napkin",
            "tablecloth",
            "coaster",
        ),
        ("bowl", "glass"),
    ),
    CategoryInfo(
        "kitchen_storage",
        "Kitchen storage",
        (_KITCHEN,),
        "surface",
        "small",
        0.25,
        (
            "kitchen storage",
            "storage jar",
            "canister",
            "spice rack",
            "spice jar",
            "bread bin",
            "bread box",
            "utensil holder",
            "utensil crock",
            "dish rack",
            "dish drainer",
            "drying rack",
            "pantry storage",
            "food container",
            "storage container",
            "kitchen organiser",
            "kitchen organizer",
            "pot rack",
            "kitchen trolley",
            "kitchen cart",
            "fruit basket",
            "paper towel holder",
            "kitchen roll holder",
        ),
        ("jar",),
    ),
    CategoryInfo(
        "bath_towel",
        "Bath towel",
        (_BATH,),
        "surface",
        "small",
        0.3,
        (
            "bath towel",
            "towel",
            "hand towel",
            "bath sheet",
            "guest towel",
            "towel set",
            "washcloth",
            "face cloth",
            "flannel",
            "bath mat",
            "bathmat",
            "bath rug",
            "bathrobe",
            "bath robe",
            "shower curtain",
            "towel ladder",
        ),
    ),
    CategoryInfo(
        "bath_accessory",
        "Bath accessory",
        (_BATH,),
        "surface",
        "small",
        0.2,
        (
            "bath accessory",
            "bathroom accessory",
            "bathroom accessories",
            "soap dispenser",
            "soap dish",
            "soap pump",
            "toothbrush holder",
            "tumbler holder",
            "bath caddy",
            "toilet brush",
            "toilet roll holder",
            "towel rail",
            "towel rack",
            "towel ring",
            "laundry basket",
            "laundry hamper",
            "hamper",
        ),
    ),
    CategoryInfo(
        "bathroom_vanity",
        "Bathroom vanity",
        (_BATH,),
        "floor",
        "large",
        0.85,
        (
            "bathroom vanity",
            "vanity unit",
            "vanity",
            "vanity cabinet",
            "sink cabinet",
            "sink unit",
            "basin unit",
            "washstand",
            "bathroom cabinet",
            "medicine cabinet",
            "bathroom storage",
            "bathroom shelf",
        ),
    ),
    CategoryInfo(
        "shoe_cabinet",
        "Shoe cabinet",
        (_ENTRY,),
        "floor",
        "medium",
        1.0,
        (
            "shoe cabinet",
            "shoe rack",
            "shoe storage",
            "shoe bench",
            "shoe organiser",
            "shoe organizer",
            "shoe stand",
            "shoe cupboard",
            "boot rack",
        ),
    ),
    CategoryInfo(
        "coat_rack",
        "Coat rack",
        (_ENTRY,),
        "floor",
        "medium",
        1.75,
        (
            "coat rack",
            "coat stand",
            "coat hanger stand",
            "hat stand",
            "hat rack",
            "coat hook",
            "coat hooks",
            "wall hooks",
            "hall tree",
            "hallstand",
            "hall stand",
            "umbrella stand",
            "key holder",
            "key rack",
        ),
    ),
    CategoryInfo(
        "kids_bed",
        "Kids' bed",
        (_KIDS,),
        "floor",
        "large",
        1.0,
        (
            "kids bed",
            "kid bed",
            "childrens bed",
            "children bed",
            "child bed",
            "toddler bed",
            "junior bed",
            "bunk bed",
            "bunk",
            "loft bed",
            "high sleeper",
            "mid sleeper",
            "cabin bed",
            "house bed",
            "montessori bed",
            "cot",
            "cot bed",
            "crib",
            "bassinet",
            "moses basket",
        ),
    ),
    CategoryInfo(
        "kids_furniture",
        "Kids' furniture",
        (_KIDS,),
        "floor",
        "medium",
        0.55,
        (
            "kids table",
            "kids chair",
            "kids desk",
            "kids armchair",
            "kids sofa",
            "childrens table",
            "childrens chair",
            "children table",
            "children chair",
            "child chair",
            "toddler chair",
            "play table",
            "activity table",
            "high chair",
            "highchair",
            "changing table",
            "changing unit",
            "rocking horse",
            "play tent",
            "teepee",
            "tipi",
            "play kitchen",
            "dolls house",
        ),
    ),
    CategoryInfo(
        "toy_storage",
        "Toy storage",
        (_KIDS,),
        "floor",
        "medium",
        0.6,
        (
            "toy storage",
            "toy box",
            "toy chest",
            "toy organiser",
            "toy organizer",
            "toy basket",
            "toy shelf",
            "toy bin",
            "kids storage",
            "book display",
        ),
    ),
    CategoryInfo(
        "outdoor_sofa",
        "Outdoor sofa",
        (_OUT,),
        "floor",
        "large",
        0.8,
        (
            "outdoor sofa",
            "garden sofa",
            "patio sofa",
            "outdoor sectional",
            "outdoor loveseat",
            "outdoor lounge set",
            "garden lounge set",
            "outdoor corner sofa",
            "rattan sofa set",
            "sofa set outdoor",
        ),
    ),
    CategoryInfo(
        "outdoor_chair",
        "Outdoor chair",
        (_OUT,),
        "floor",
        "medium",
        0.85,
        (
            "outdoor chair",
            "garden chair",
            "patio chair",
            "outdoor lounge chair",
            "outdoor armchair",
            "outdoor dining chair",
            "deck chair",
            "deckchair",
            "adirondack chair",
            "adirondack",
            "sun lounger",
            "sunlounger",
            "lounger",
            "hammock",
            "swing seat",
            "hanging egg chair",
        ),
    ),
    CategoryInfo(
        "outdoor_table",
        "Outdoor table",
        (_OUT,),
        "floor",
        "large",
        0.72,
        (
            "outdoor table",
            "garden table",
            "patio table",
            "outdoor dining table",
            "outdoor coffee table",
            "outdoor side table",
            "garden dining set",
            "patio set",
            "patio dining set",
            "bistro table",
            "bistro set",
            "picnic table",
        ),
    ),
    CategoryInfo(
        "planter",
        "Planter",
        (_OUT, _LIVING, _ENTRY),
        "floor",
        "medium",
        0.5,
        (
            "planter",
            "plant pot",
            "flower pot",
            "flowerpot",
            "window box",
            "plant stand",
            "plant holder",
            "hanging planter",
            "raised bed",
            "trough planter",
            "jardiniere",
            "cachepot",
            "terracotta pot",
        ),
        ("pot",),
    ),
    CategoryInfo("other", "Other", (_LIVING,), "floor", "medium", 0.5),
)

CATEGORY_INFO: dict[str, CategoryInfo] = {info.id: info for info in _INFOS}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_INFO)

# Seating and tables that become their outdoor kind when the text says they are for outdoors.
_OUTDOOR_KIND = {
    "sofa": "outdoor_sofa",
    "armchair": "outdoor_chair",
    "ottoman": "outdoor_chair",
    "dining_chair": "outdoor_chair",
    "coffee_table": "outdoor_table",
    "side_table": "outdoor_table",
    "dining_table": "outdoor_table",
}
_OUTDOOR_WORDS = (
    "outdoor",
    "outdoors",
    "patio",
    "garden",
    "balcony",
    "terrace",
    "poolside",
    "all weather",
    "weatherproof",
    "weather resistant",
    "alfresco",
    "al fresco",
)
# In a description only plain statements of outdoor use count ("lovely by the patio" does not).
_OUTDOOR_USE_WORDS = (
    "outdoor",
    "outdoors",
    "all weather",
    "weatherproof",
    "weather resistant",
    "uv resistant",
    "alfresco",
    "al fresco",
)
# Furniture that becomes its children's kind when the name or category says it is for kids.
_KIDS_KIND = {
    "bed": "kids_bed",
    "armchair": "kids_furniture",
    "sofa": "kids_furniture",
    "dining_chair": "kids_furniture",
    "dining_table": "kids_furniture",
    "side_table": "kids_furniture",
    "desk": "kids_furniture",
    "bookshelf": "toy_storage",
    "sideboard": "toy_storage",
}
_KIDS_WORDS = (
    "kids",
    "kid",
    "children",
    "childrens",
    "child",
    "childs",
    "toddler",
    "baby",
    "nursery",
    "junior",
)
_NEGATIONS = frozenset({"not", "no", "non", "never", "without"})
# A category word right after one of these is usually another product the text mentions
# ("cushion for your sofa", "pairs with the Oslo coffee table"), not the product itself.
_RELATIONAL = frozenset(
    {
        "on",
        "onto",
        "atop",
        "for",
        "with",
        "beside",
        "under",
        "underneath",
        "over",
        "above",
        "below",
        "near",
        "behind",
        "next",
        "alongside",
        "against",
        "around",
        "between",
        "your",
        "matching",
        "complements",
        "like",
    }
)
_SUBJECT_WORDS = frozenset({"this", "these"})
_CONTEXT_TOKENS = 3
_BOUNDARY = "."


# -- text helpers -------------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_BREAKS = re.compile(r"[.,;:!?()\[\]{}/\\|<>\u2022\u00b7\u2013\u2014\n\r\t\"]+")
_NON_WORD = re.compile(r"[^a-z0-9.]+")
_DOTTED = re.compile(r"(?<![a-z0-9])(?:[a-z]\.){2,}")


def normalize_text(text: str) -> str:
    """Lowercase ASCII words separated by single spaces; punctuation that ends a phrase
    (``. , ; : / > ( )`` and the like) becomes a ``.`` token so phrases never match across it.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _APOSTROPHES.sub("", text).replace("&", " and ").replace("+", " and ")
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)  # "t.v." is "tv"
    text = _BREAKS.sub(" . ", text)
    text = _NON_WORD.sub(" ", text)
    out: list[str] = []
    for token in text.split():
        if token != _BOUNDARY or (out and out[-1] != _BOUNDARY):
            out.append(token)
    while out and out[-1] == _BOUNDARY:
        out.pop()
    return " ".join(out)


def _words_only(text: str) -> str:
    return " ".join(t for t in normalize_text(text).split() if t != _BOUNDARY)


def _word_pattern(word: str) -> str:
    """A word and its plural: sofa(s), couch(es), vanity/vanities."""
    if len(word) > 2 and word.endswith("y") and word[-2] not in "aeiou":
        return re.escape(word[:-1]) + "(?:y|ies)"
    if word.isdigit():
        return re.escape(word)
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return re.escape(word) + "(?:es)?"
    return re.escape(word) + "(?:s|es)?"


def _phrase_regex(phrase: str) -> re.Pattern[str]:
    words = _words_only(phrase).split()
    body = " ".join(_word_pattern(w) for w in words)
    return re.compile(rf"(?<![a-z0-9]){body}(?![a-z0-9])")


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    target: str
    generic: bool
    suppressed: bool


def _find(text: str, patterns: Iterable[tuple[re.Pattern[str], str, bool]]) -> list[_Hit]:
    """Non-overlapping phrase hits in normalised text, a longer phrase winning over a shorter."""
    found: list[tuple[int, int, str, bool]] = []
    for pattern, target, generic in patterns:
        for m in pattern.finditer(text):
            found.append((m.start(), m.end(), target, generic))
    found.sort(key=lambda h: (-(h[1] - h[0]), h[3], h[0]))
    taken: list[tuple[int, int]] = []
    hits: list[_Hit] = []
    for start, end, target, generic in found:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        hits.append(_Hit(start, end, target, generic, _suppressed(text, start)))
    hits.sort(key=lambda h: h.start)
    return hits


def _context(text: str, start: int) -> list[str]:
    """Up to three tokens before ``start``, stopping at a phrase break."""
    before = text[:start].split()[-_CONTEXT_TOKENS:]
    if _BOUNDARY in before:
        before = before[len(before) - before[::-1].index(_BOUNDARY) :]
    return before


def _suppressed(text: str, start: int) -> bool:
    before = _context(text, start)
    for index, token in enumerate(before):
        if token in _RELATIONAL:
            return not any(t in _SUBJECT_WORDS for t in before[index + 1 :])
    return False


def _negated(text: str, start: int) -> bool:
    return any(t in _NEGATIONS for t in _context(text, start))


# -- room types ---------------------------------------------------------------------------------


@functools.cache
def _room_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for room_id, label in ROOM_TYPES.items():
        for phrase in (room_id, label, *_ROOM_SYNONYMS.get(room_id, ())):
            words = _words_only(phrase)
            lookup[words] = room_id
            lookup[words.replace(" ", "")] = room_id
    return lookup


@functools.cache
def _room_patterns(in_product_text: bool) -> tuple[tuple[re.Pattern[str], str, bool], ...]:
    patterns: list[tuple[re.Pattern[str], str, bool]] = []
    for room_id, label in ROOM_TYPES.items():
        for phrase in {room_id, label, *_ROOM_SYNONYMS.get(room_id, ())}:
            words = _words_only(phrase)
            if in_product_text and words in _AMBIGUOUS_ROOM_WORDS:
                continue
            patterns.append((_phrase_regex(words), room_id, False))
    patterns.sort(key=lambda p: (p[1], p[0].pattern))
    return tuple(patterns)


def _known_rooms() -> str:
    return ", ".join(ROOM_TYPES)


def normalize_room_type(text: str) -> str:
    """The room type id for free text: "Living Room", "lounge", "WFH", "en-suite", "patio".

    Case, spacing and punctuation do not matter. Text that is not itself a room name but names
    one ("our cosy family room") gives the longest room phrase in it. Text that names no room
    raises :class:`UnknownRoomType` (an :class:`~visualizer_core.errors.InvalidInput`).
    """
    words = _words_only(text or "")
    lookup = _room_lookup()
    room = lookup.get(words) or lookup.get(words.replace(" ", ""))
    if room:
        return room
    if words:
        hits = _find(words, _room_patterns(False))
        if hits:
            return max(hits, key=lambda h: (h.end - h.start, -h.start)).target
    raise UnknownRoomType(f"unknown room type {text!r}; known room types: {_known_rooms()}")


def find_room_mentions(text: str | None) -> list[str]:
    """Room type ids that a product's own text mentions, in the order they appear.

    Only unambiguous room words count ("patio", "bathroom", "nursery"; not "living" or "hall"),
    and negated ones ("not for outdoor use") are skipped.
    """
    if not text:
        return []
    norm = normalize_text(text)
    rooms = [h.target for h in _find(norm, _room_patterns(True)) if not _negated(norm, h.start)]
    return list(dict.fromkeys(rooms))


# -- categories ---------------------------------------------------------------------------------


@functools.cache
def _category_patterns() -> tuple[tuple[re.Pattern[str], str, bool], ...]:
    patterns: list[tuple[re.Pattern[str], str, bool]] = []
    for info in _INFOS:
        if info.id == "other":
            continue
        phrases = {info.label, *info.synonyms}
        if _words_only(info.id) not in info.generic_words:
            phrases.add(info.id)
        for phrase in sorted(phrases):
            patterns.append((_phrase_regex(phrase), info.id, False))
        for phrase in info.generic_words:
            patterns.append((_phrase_regex(phrase), info.id, True))
    return tuple(patterns)


@functools.cache
def _category_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for info in _INFOS:
        for phrase in (info.id, info.label):
            words = _words_only(phrase)
            lookup[words] = info.id
            lookup[words.replace(" ", "")] = info.id
    return lookup


def _pick(hits: list[_Hit], *, head_last: bool) -> str | None:
    """The product a list of hits names: the head noun of a name (the last hit), or the
    subject of a description (the first hit)."""
    if not hits:
        return None
    return (hits[-1] if head_last else hits[0]).target


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    for word in words:
        for m in _phrase_regex(word).finditer(text):
            if not _negated(text, m.start()):
                return True
    return False


def normalize_category(name: str, category: str | None, description: str | None) -> str:
    """The category id of a catalog product, from its category text, name and description.

    The catalog's category text is read first ("Sofas & Couches", "Lighting > Floor Lamps",
    "Accent chair"), then the name, then the description. Phrases match whole words, plurals
    included, and a longer phrase wins over a shorter one inside it ("coffee table" over
    "table", "table lamp" over both). In a category or a name the last product word is the
    head ("Dining Chair Cushion" is a cushion); in a description the first one is the
    subject. Words that name another product ("cushion for your sofa") are skipped, and
    vague words ("table", "lamp", "chair") count only when no specific one is found anywhere.
    Seating and tables described as for outdoors, and beds and chairs named for kids, take
    their outdoor or kids' category. Nothing recognised gives ``"other"``.
    """
    sources = [
        (normalize_text(category or ""), True),
        (normalize_text(name or ""), True),
        (normalize_text(description or ""), False),
    ]
    found = _category_lookup().get(_words_only(category or ""))
    if found is None:
        hits = [
            [h for h in _find(text, _category_patterns()) if not h.suppressed] if text else []
            for text, _ in sources
        ]
        # Specific words: category text, name, description; a department ("Bed & Bath")
        # says less than the name. Vague words: the name's "lamp" says more than a
        # category's "Lighting", so the name comes first.
        specific = (1, 0, 2) if is_department(category) else (0, 1, 2)
        for generic, order in ((False, specific), (True, (1, 0, 2))):
            for index in order:
                chosen = [h for h in hits[index] if h.generic == generic]
                found = _pick(chosen, head_last=sources[index][1])
                if found:
                    break
            if found:
                break
    if found is None:
        return "other"
    title = " . ".join(text for text, _ in sources[:2] if text)
    if found in _OUTDOOR_KIND and (
        _mentions(title, _OUTDOOR_WORDS) or _mentions(sources[2][0], _OUTDOOR_USE_WORDS)
    ):
        return _OUTDOOR_KIND[found]
    if found in _KIDS_KIND and _mentions(title, _KIDS_WORDS):
        return _KIDS_KIND[found]
    return found


def is_department(category: str | None) -> bool:
    """Whether catalog category text joins different things ("Bed & Bath", "Tables & Lamps")
    rather than naming one kind of product ("Sofas & Couches", "Lighting > Floor Lamps").
    Only the last step of a breadcrumb counts.
    """
    last = normalize_text(category or "").split(f" {_BOUNDARY} ")[-1]
    parts = [p for p in re.split(r"\band\b", last) if p.strip()]
    if len(parts) < 2:
        return False
    kinds = set()
    for part in parts:
        part_hits = _find(part.strip(), _category_patterns())
        kinds.add(part_hits[-1].target if part_hits else None)
    return len(kinds) > 1


def category_info(category: str) -> CategoryInfo:
    """The facts of a category, by id, or by any text :func:`normalize_category` recognises.

    Raises :class:`UnknownCategory` (a ``LookupError``) for text that names no category.
    """
    info = CATEGORY_INFO.get(category)
    if info is not None:
        return info
    found = normalize_category(category, category, None) if category else "other"
    if found == "other" and _words_only(category or "") != "other":
        raise UnknownCategory(
            f"unknown product category {category!r}; known categories: {', '.join(CATEGORIES)}"
        )
    return CATEGORY_INFO[found]


def room_types_for(category: str) -> list[str]:
    """The room types a category belongs in, best first."""
    return list(category_info(category).room_types)
