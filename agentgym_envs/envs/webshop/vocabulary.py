"""The words the generated WebShop catalogue is made of.

WebShop scraped 1.18M Amazon products from five top categories (beauty, electronics, fashion,
food, furniture/garden), each gathered by a search ``query`` and filed under a ``product_category``
path. This module describes a shop of the same shape: for each category, its product types (a
noun phrase, the query that finds it, its category path, attributes of its own, its option groups
and a price band), the attributes every product of the category may have, and the values of each
option group.

Two rules keep WebShop's reward honest on this data, and a test checks both:

* no attribute's words are a subset of another attribute's words in the same category, since
  WebShop matches attributes by fuzzy token-set ratio, which scores such pairs 100;
* option values of one group are distinct after WebShop's colour normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    noun: str  # "deodorant stick": the words a title names the product with
    query: str  # "deodorant": WebShop's scraping query (lower case)
    path: tuple[str, ...]  # category levels below the top one
    attributes: tuple[str, ...]  # attributes only this type has
    options: tuple[str, ...]  # option groups, names from Category.option_values
    price: tuple[float, float]  # low and high price in dollars


@dataclass(frozen=True)
class Category:
    name: str  # WebShop's category key: "beauty"
    root: str  # the top level of product_category
    attributes: tuple[str, ...]  # attributes any product of the category may have
    option_values: dict[str, tuple[str, ...]]
    types: tuple[ProductType, ...]


def _type(noun, query, path, attributes, options, price) -> ProductType:
    return ProductType(noun, query, tuple(path.split(" / ")), tuple(attributes), tuple(options), price)


# The tables below are laid out by hand, one product type to two lines.
# fmt: off
BEAUTY = Category(
    name="beauty",
    root="Beauty & Personal Care",
    attributes=(
        "paraben free", "cruelty free", "long lasting", "sensitive skin", "natural ingredients",
        "travel size", "dermatologist tested", "fragrance free", "vegan formula", "easy apply",
        "hyaluronic acid", "tea tree",
    ),
    option_values={
        "size": ("1 fl oz", "1.7 fl oz", "3.4 fl oz", "6.8 fl oz", "8 ounce", "16 ounce"),
        "scent": ("lavender", "vanilla", "coconut", "unscented", "citrus", "rose", "eucalyptus mint"),
        "color": ("nude", "red", "pink", "coral", "plum", "brown", "black"),
        "item package quantity": ("1", "2", "3", "4", "6"),
    },
    types=(
        _type("deodorant stick", "deodorant", "Personal Care / Deodorants & Antiperspirants",
              ("aluminum free", "baking soda free"), ("scent", "item package quantity"), (6, 24)),
        _type("face moisturizer", "face moisturizer", "Skin Care / Face / Moisturizers",
              ("spf 30", "oil free", "anti aging"), ("size",), (9, 60)),
        _type("shampoo", "shampoo", "Hair Care / Shampoo & Conditioner / Shampoos",
              ("sulfate free", "color safe", "dry scalp"), ("scent", "size"), (7, 35)),
        _type("lipstick", "lipstick", "Makeup / Lips / Lipstick",
              ("matte finish", "highly pigmented"), ("color",), (5, 28)),
        _type("body wash", "body wash", "Personal Care / Bath & Bathing Accessories / Body Washes",
              ("shea butter", "exfoliating beads"), ("scent", "size"), (5, 22)),
        _type("nail polish", "nail polish", "Foot, Hand & Nail Care / Nail Art & Polish / Nail Polish",
              ("quick dry", "chip resistant", "non toxic"), ("color", "item package quantity"), (4, 20)),
        _type("makeup brush set", "makeup brushes",
              "Tools & Accessories / Makeup Brushes & Tools / Brush Sets",
              ("synthetic bristles", "storage case"), ("color",), (8, 45)),
        _type("eau de parfum", "perfume for women", "Fragrance / Women's / Eau de Parfum",
              ("floral notes", "gift box"), ("size",), (18, 120)),
    ),
)

ELECTRONICS = Category(
    name="electronics",
    root="Electronics",
    attributes=(
        "fast charging", "high definition", "noise cancelling", "water resistant", "usb c",
        "plug and play", "bluetooth 5.0", "lightweight design", "long battery life", "easy install",
        "dual band", "shockproof",
    ),
    option_values={
        "color": ("black", "white", "silver", "blue", "red", "rose gold", "gray"),
        "size": ("3 ft", "6 ft", "10 ft", "small", "medium", "large"),
        "style": ("1 pack", "2 pack", "with charger", "with case", "pro", "basic"),
        "capacity": ("32gb", "64gb", "128gb", "256gb", "512gb"),
    },
    types=(
        _type("wireless earbuds", "wireless earbuds", "Headphones, Earbuds & Accessories / Earbuds",
              ("charging case", "touch control"), ("color",), (15, 150)),
        _type("phone charger cable", "usb charger cable", "Cell Phones & Accessories / Chargers / Cables",
              ("braided nylon", "data sync"), ("color", "size"), (5, 25)),
        _type("bluetooth speaker", "portable speaker", "Portable Audio & Video / Portable Speakers",
              ("deep bass", "built in microphone"), ("color",), (18, 140)),
        _type("hdmi cable", "hdmi cable", "Accessories & Supplies / Audio & Video Accessories / HDMI Cables",
              ("4k support", "gold plated"), ("size", "style"), (6, 30)),
        _type("memory card", "micro sd card", "Computers & Accessories / Memory Cards / Micro SD Cards",
              ("read speed", "adapter included"), ("capacity",), (7, 80)),
        _type("security camera", "security camera", "Camera & Photo / Surveillance & Security / Cameras",
              ("night vision", "motion detection"), ("style",), (25, 180)),
        _type("wireless mouse", "wireless mouse", "Computers & Accessories / Keyboards, Mice & Input / Mice",
              ("ergonomic grip", "silent click"), ("color",), (9, 60)),
        _type("tablet case", "tablet case", "Computers & Accessories / Tablet Accessories / Cases",
              ("auto wake", "stand feature"), ("color", "style"), (10, 45)),
    ),
)

FASHION = Category(
    name="fashion",
    root="Clothing, Shoes & Jewelry",
    attributes=(
        "machine wash", "slim fit", "relaxed fit", "moisture wicking", "soft material",
        "button closure", "elastic waist", "long sleeve", "short sleeve", "quick drying",
        "hand wash", "daily wear",
    ),
    option_values={
        "color": ("black", "white", "navy", "gray", "red", "green", "khaki", "beige", "purple"),
        "size": ("x-small", "small", "medium", "large", "x-large", "xx-large"),
        "shoe size": ("6", "7", "8", "9", "10", "11", "12"),
        "fit type": ("regular", "big & tall", "petite"),
    },
    types=(
        _type("crew neck t-shirt", "men's t-shirts", "Men / Clothing / Shirts / T-Shirts",
              ("cotton blend", "tagless collar"), ("color", "size"), (8, 30)),
        _type("yoga pants", "women's yoga pants", "Women / Clothing / Active / Leggings",
              ("high waist", "tummy control"), ("color", "size"), (12, 45)),
        _type("running shoes", "men's running shoes", "Men / Shoes / Athletic / Running",
              ("rubber sole", "breathable mesh"), ("color", "shoe size"), (30, 120)),
        _type("hoodie", "pullover hoodie", "Men / Clothing / Fashion Hoodies & Sweatshirts",
              ("fleece lining", "kangaroo pocket"), ("color", "size"), (18, 60)),
        _type("maxi dress", "women's dresses", "Women / Clothing / Dresses / Casual",
              ("v neck", "floral print"), ("color", "size"), (20, 70)),
        _type("jeans", "men's jeans", "Men / Clothing / Jeans",
              ("stretch denim", "straight leg"), ("color", "size", "fit type"), (25, 80)),
        _type("ankle socks", "athletic socks", "Men / Clothing / Socks & Hosiery / Athletic Socks",
              ("arch support", "cushioned sole"), ("color", "size"), (9, 25)),
        _type("winter jacket", "winter jacket", "Women / Clothing / Coats, Jackets & Vests / Down & Parkas",
              ("faux fur hood", "zip pockets"), ("color", "size"), (45, 160)),
    ),
)

FOOD = Category(
    name="food",
    root="Grocery & Gourmet Food",
    attributes=(
        "gluten free", "non gmo", "low sugar", "sugar free", "keto friendly", "high protein",
        "certified organic", "plant based", "ready to eat", "kosher certified", "individually wrapped",
        "low calorie",
    ),
    option_values={
        "flavor name": ("chocolate", "vanilla", "strawberry", "peanut butter", "sea salt", "original",
                        "cinnamon", "honey"),
        "size": ("8 ounce", "12 ounce", "1 pound", "2 pound", "24 count", "48 count"),
        "item package quantity": ("1", "2", "4", "6", "12"),
    },
    types=(
        _type("protein bar", "protein bars", "Snack Foods / Bars / Protein Bars",
              ("whey protein", "low carb"), ("flavor name", "size"), (12, 45)),
        _type("ground coffee", "ground coffee", "Beverages / Coffee, Tea & Cocoa / Coffee / Ground Coffee",
              ("medium roast", "fair trade"), ("flavor name", "size"), (8, 35)),
        _type("green tea", "green tea bags", "Beverages / Coffee, Tea & Cocoa / Tea / Green",
              ("caffeine free", "loose leaf"), ("flavor name", "item package quantity"), (5, 25)),
        _type("trail mix", "trail mix", "Snack Foods / Nuts & Seeds / Trail Mix",
              ("roasted nuts", "dried fruit"), ("flavor name", "size"), (6, 28)),
        _type("pasta sauce", "pasta sauce", "Pantry Staples / Sauces, Gravies & Marinades / Pasta Sauces",
              ("no added sugar", "slow cooked"), ("flavor name", "item package quantity"), (4, 30)),
        _type("gummy candy", "gummy candy", "Candy & Chocolate / Gummy Candies",
              ("fat free", "fruit juice"), ("flavor name", "size"), (5, 25)),
        _type("olive oil", "extra virgin olive oil", "Pantry Staples / Cooking & Baking / Oils / Olive",
              ("cold pressed", "single origin"), ("size",), (9, 40)),
        _type("beef jerky", "beef jerky", "Snack Foods / Jerky & Dried Meats / Beef",
              ("grass fed", "smoked flavor"), ("flavor name", "size"), (8, 40)),
    ),
)

FURNITURE = Category(
    name="furniture",
    root="Home & Kitchen",
    attributes=(
        "easy assembly", "solid wood", "space saving", "living room", "bedroom furniture",
        "wipe clean", "heavy duty", "mid century", "storage space", "non slip",
        "stainless steel", "metal frame",
    ),
    option_values={
        "color": ("walnut", "white", "black", "gray", "natural", "espresso", "navy", "green"),
        "size": ("small", "medium", "large", "queen", "king", "2 pack", "4 pack"),
        "style": ("modern", "rustic", "industrial", "farmhouse", "classic"),
    },
    types=(
        _type("coffee table", "coffee table", "Furniture / Living Room Furniture / Tables / Coffee Tables",
              ("lift top", "tempered glass"), ("color", "style"), (60, 300)),
        _type("office chair", "office chair", "Furniture / Home Office Furniture / Chairs",
              ("lumbar support", "adjustable height"), ("color",), (70, 320)),
        _type("bookshelf", "bookshelf", "Furniture / Home Office Furniture / Bookcases",
              ("adjustable shelves", "wall anchor"), ("color", "size"), (40, 220)),
        _type("bed sheet set", "bed sheets", "Bedding / Sheets & Pillowcases / Sheet & Pillowcase Sets",
              ("deep pocket", "wrinkle free"), ("color", "size"), (20, 90)),
        _type("throw pillow cover", "throw pillow covers",
              "Home Décor Products / Decorative Pillows / Pillow Covers",
              ("hidden zipper", "velvet fabric"), ("color", "size"), (8, 30)),
        _type("bar stool", "bar stools", "Furniture / Kitchen & Dining Room Furniture / Barstools",
              ("swivel seat", "footrest ring"), ("color", "size"), (50, 250)),
        _type("shoe rack", "shoe rack",
              "Storage & Organization / Clothing & Closet Storage / Shoe Organizers",
              ("stackable tiers", "bamboo shelves"), ("color", "size"), (15, 80)),
        _type("area rug", "area rug", "Home Décor Products / Rugs, Pads & Protectors / Area Rugs",
              ("machine washable", "low pile"), ("color", "size"), (25, 200)),
    ),
)

# fmt: on
CATEGORIES: tuple[Category, ...] = (BEAUTY, ELECTRONICS, FASHION, FOOD, FURNITURE)

# Brand names are built from these syllables: 40 x 40 x 8 = 12,800 brands, enough that a million
# products still have varied titles and a brand never doubles as a product word.
# fmt: off
BRAND_HEADS = (
    "al", "bel", "cor", "dan", "el", "fin", "gal", "hal", "ir", "jor", "kel", "lum", "mar", "nor",
    "or", "pel", "quin", "ros", "sel", "tor", "ul", "vel", "wen", "xan", "yor", "zel", "bra", "cla",
    "dre", "fro", "gra", "kra", "pla", "sta", "tri", "vor", "ash", "eth", "oph", "umb",
)
BRAND_MIDDLES = (
    "a", "e", "i", "o", "u", "ari", "eno", "ira", "ola", "uma", "esta", "ivo", "ando", "eri", "oma",
    "ula", "ani", "evi", "ori", "uvi", "adi", "ede", "ito", "onu", "ura", "iba", "oce", "ude", "ame",
    "ipe", "ova", "uze", "ali", "ero", "ine", "oro", "uli", "aza", "exe", "iqo",
)
BRAND_TAILS = ("x", "n", "ra", "co", "ly", "tek", "va", "ia")
# fmt: on

# Generic sentences for descriptions; {noun} and {brand} are filled in.
DESCRIPTION_SENTENCES = (
    "The {brand} {noun} is made for everyday use and built to last.",
    "Every {noun} from {brand} is checked before it ships.",
    "Customers choose this {noun} for its value and its quality.",
    "A thoughtful gift for friends and family.",
    "Satisfaction guaranteed: contact {brand} support with any question.",
    "Designed with care, this {noun} fits right into your routine.",
)

REVIEW_LINES = (
    ("Great value", "Does what it says and arrived quickly."),
    ("Nice quality", "Better than I expected for the price."),
    ("Okay", "Works fine, though the packaging could be better."),
    ("Love it", "Bought a second one for my sister."),
    ("Not bad", "Decent, a little smaller than pictured."),
)
