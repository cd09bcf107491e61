"""The generated websites behind WebArena: their data, built from a seed, and the changes a user
can make to them.

WebArena hosts six real web applications in Docker. Three are modelled here, each as plain Python
data that pages are rendered from: a OneStopShop-like store (Magento in WebArena), a Postmill-like
forum (WebArena's "Reddit") and a GitLab-like code host. A :class:`World` holds one copy of all
three; a task builds its world from its own seed, so an episode's changes (an order placed, a
comment posted) never leak into another episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# WebArena's own hosts and ports (its config files write them as __SHOPPING__, __REDDIT__, ...).
SHOP = "http://localhost:7770"
FORUM = "http://localhost:9999"
GITLAB = "http://localhost:8023"
SITE_NAMES = {SHOP: "shopping", FORUM: "reddit", GITLAB: "gitlab"}
# WebArena's accounts on its sites, kept so its intents read the same.
SHOP_CUSTOMER = "Emma Lopez"
FORUM_USER = "MarvelsGrantMan136"
GITLAB_USER = "byteblaze"

CATEGORIES = {
    "Electronics": ("Headphones", "Charger", "Speaker", "Keyboard", "Webcam", "Power Bank"),
    "Home & Kitchen": ("Kettle", "Blender", "Coffee Mug", "Frying Pan", "Towel Set", "Desk Lamp"),
    "Beauty": ("Face Cream", "Shampoo", "Lip Balm", "Perfume", "Nail Polish", "Hair Brush"),
    "Grocery": ("Green Tea", "Coffee Beans", "Olive Oil", "Granola", "Honey", "Dark Chocolate"),
    "Sports": ("Yoga Mat", "Water Bottle", "Dumbbell", "Tennis Racket", "Running Shoes", "Jump Rope"),
    "Office": ("Notebook", "Stapler", "Desk Organizer", "Gel Pen Set", "Planner", "Whiteboard"),
}
BRANDS = ("Acme", "Northwind", "Luma", "Zenith", "Orion", "Maple", "Cobalt", "Sierra", "Nimbus", "Vega")
STYLES = ("Red", "Blue", "Black", "White", "Silver", "Compact", "Deluxe", "Classic", "Pro", "Eco")
REVIEWERS = ("Jane", "Omar", "Li Wei", "Priya", "Lucas", "Sofia", "Ken", "Amara", "Noah", "Elena")
REVIEW_TEXT = {
    1: "Broke after a week.",
    2: "Not worth the price.",
    3: "Does the job, nothing more.",
    4: "Good value, would buy again.",
    5: "Excellent, exactly as described.",
}
ORDER_STATUSES = ("Complete", "Pending", "Canceled", "Processing")
STREETS = ("Elm Street", "Oak Avenue", "Maple Road", "Pine Lane", "Cedar Court", "Lake Drive")
CITIES = ("Boston, MA", "Austin, TX", "Denver, CO", "Seattle, WA", "Miami, FL", "Chicago, IL")

FORUM_TOPICS = {
    "books": ("Dune", "a Le Guin novel", "audiobooks", "library cards", "poetry collections"),
    "gaming": ("Zelda", "speedruns", "retro consoles", "indie games", "board games"),
    "movies": ("Blade Runner", "film scores", "documentaries", "silent films", "Pixar movies"),
    "science": ("black holes", "CRISPR", "fusion power", "octopus minds", "the James Webb telescope"),
    "cooking": ("sourdough", "cast iron pans", "ramen broth", "meal prep", "spice blends"),
    "travel": ("night trains", "Lisbon", "hostels", "packing light", "Iceland in winter"),
    "music": ("vinyl records", "jazz standards", "home studios", "synthesizers", "live albums"),
    "history": ("the Silk Road", "Roman roads", "the printing press", "lost cities", "old maps"),
}
TITLE_FORMS = (
    "What do you think about {}?",
    "I finally tried {}",
    "Tips for getting into {}",
    "Unpopular opinion: {} is overrated",
    "Looking for recommendations on {}",
)
FORUM_USERS = (
    "bookworm42",
    "pixelpirate",
    "quietstorm",
    "nebula_nick",
    "saltandpepper",
    "trailmix",
    "ohmygoat",
)
COMMENT_TEXT = (
    "Totally agree.",
    "Thanks for sharing!",
    "I disagree, but nice post.",
    "Same here.",
    "Source?",
)

GITLAB_NAMESPACES = ("byteblaze", "primer", "kilian", "a11yproject", "umano")
GITLAB_NAMES = (
    "dotfiles",
    "design-system",
    "timer",
    "cli-tools",
    "docs",
    "api-server",
    "web-ui",
    "scheduler",
)
ISSUE_TITLES = (
    "Crash on startup",
    "Add dark mode",
    "Typo in README",
    "Update dependencies",
    "Improve error messages",
    "Flaky test in CI",
    "Support Windows paths",
    "Slow search results",
)
LABELS = ("bug", "enhancement", "documentation", "question")


# ------------------------------------------------------------------------------ shopping
@dataclass
class Review:
    author: str
    stars: int
    text: str


@dataclass
class Product:
    sku: str
    name: str
    category: str
    price: float
    reviews: list[Review]

    @property
    def rating(self) -> float:
        """Mean stars, to one decimal (0 without reviews)."""
        return round(sum(r.stars for r in self.reviews) / len(self.reviews), 1) if self.reviews else 0.0


@dataclass
class Order:
    number: str  # "000000101", as Magento numbers them
    date: str
    status: str
    items: list[str]  # skus, one per unit
    address: str
    total: float


@dataclass
class Shop:
    products: dict[str, Product]  # by sku, in catalogue order
    orders: list[Order]
    cart: list[str] = field(default_factory=list)  # skus, one per unit

    def categories(self) -> list[str]:
        """Every category, in catalogue order (the order the shop's menu lists them)."""
        return list(dict.fromkeys(p.category for p in self.products.values()))

    def in_category(self, category: str) -> list[Product]:
        return [p for p in self.products.values() if p.category == category]

    def search(self, query: str) -> list[Product]:
        """Products whose name or category holds every word of the query (any case)."""
        words = query.lower().split()
        return [
            p for p in self.products.values() if all(w in f"{p.name} {p.category}".lower() for w in words)
        ]

    def order(self, number: str) -> Order | None:
        return next((o for o in self.orders if o.number == number), None)

    def place_order(self, address: str) -> Order:
        """Turn the cart into a pending order shipped to ``address``; the cart empties."""
        number = f"{int(self.orders[-1].number) + 1:09d}" if self.orders else "000000101"
        total = round(sum(self.products[sku].price for sku in self.cart), 2)
        order = Order(number, "12/1/2026", "Pending", list(self.cart), address, total)
        self.orders.append(order)
        self.cart.clear()
        return order


def _generate_shop(rng: np.random.Generator) -> Shop:
    products: dict[str, Product] = {}
    used_names: set[str] = set()
    for c, (category, nouns) in enumerate(CATEGORIES.items()):
        # Distinct review counts and prices inside a category, so "the most reviewed" and
        # "the cheapest" always have one answer.
        review_counts = rng.permutation(np.arange(1, 10))[: len(nouns)]
        prices = rng.choice(np.arange(300, 30000), size=len(nouns), replace=False) / 100
        for i, noun in enumerate(nouns):
            while True:
                name = f"{BRANDS[rng.integers(len(BRANDS))]} {STYLES[rng.integers(len(STYLES))]} {noun}"
                if name not in used_names:
                    break
            used_names.add(name)
            reviews = []
            for _ in range(int(review_counts[i])):
                stars = int(rng.integers(1, 6))
                reviews.append(Review(REVIEWERS[rng.integers(len(REVIEWERS))], stars, REVIEW_TEXT[stars]))
            sku = f"B0{c}{i}{int(rng.integers(1000, 9999))}"
            products[sku] = Product(sku, name, category, float(prices[i]), reviews)
    skus = list(products)
    orders = []
    for k in range(5):
        items = [skus[int(j)] for j in rng.choice(len(skus), size=int(rng.integers(1, 4)), replace=False)]
        total = round(sum(products[s].price for s in items), 2)
        street, city = STREETS[rng.integers(len(STREETS))], CITIES[rng.integers(len(CITIES))]
        address = f"{int(rng.integers(10, 999))} {street}, {city}"
        date = f"{int(rng.integers(1, 13))}/{int(rng.integers(1, 29))}/2025"
        status = ORDER_STATUSES[rng.integers(len(ORDER_STATUSES))]
        orders.append(Order(f"{101 + k:09d}", date, status, items, address, total))
    return Shop(products, orders)


# ------------------------------------------------------------------------------ forum
@dataclass
class Comment:
    author: str
    text: str


@dataclass
class Post:
    id: int
    forum: str
    title: str
    author: str
    body: str
    score: int
    comments: list[Comment]
    my_vote: int = 0  # the signed-in user's vote: -1, 0 or +1 (Postmill keeps one per user)


@dataclass
class Forum:
    forums: list[str]
    posts: dict[int, Post]  # by id

    def posts_in(self, forum: str) -> list[Post]:
        return [p for p in self.posts.values() if p.forum == forum]

    def vote(self, post_id: int, direction: int) -> None:
        """Postmill's rule: voting the same way twice takes the vote back."""
        post = self.posts[post_id]
        new_vote = 0 if post.my_vote == direction else direction
        post.score += new_vote - post.my_vote
        post.my_vote = new_vote

    def submit(self, forum: str, title: str, body: str) -> Post:
        post_id = max(self.posts) + 1
        self.posts[post_id] = Post(post_id, forum, title, FORUM_USER, body, 1, [], my_vote=1)
        return self.posts[post_id]


def _generate_forum(rng: np.random.Generator) -> Forum:
    names = sorted(str(n) for n in rng.choice(list(FORUM_TOPICS), size=5, replace=False))
    posts: dict[int, Post] = {}
    post_id = 100
    for forum in names:
        topics = FORUM_TOPICS[forum]
        for k in range(5):
            topic = topics[k]
            title = TITLE_FORMS[int(rng.integers(len(TITLE_FORMS)))].format(topic)
            author = FORUM_USERS[rng.integers(len(FORUM_USERS))]
            comments = [
                Comment(
                    FORUM_USERS[rng.integers(len(FORUM_USERS))], COMMENT_TEXT[rng.integers(len(COMMENT_TEXT))]
                )
                for _ in range(int(rng.integers(0, 5)))
            ]
            body = f"Curious what this community thinks about {topic}."
            posts[post_id] = Post(post_id, forum, title, author, body, int(rng.integers(-3, 150)), comments)
            post_id += int(rng.integers(1, 9))
    return Forum(names, posts)


# ------------------------------------------------------------------------------ gitlab
@dataclass
class Issue:
    number: int
    title: str
    author: str
    state: str  # "opened" or "closed", as GitLab says
    label: str
    description: str = ""


@dataclass
class Project:
    path: str  # "byteblaze/dotfiles"
    stars: int
    issues: list[Issue]

    def open_issues(self) -> list[Issue]:
        return [i for i in self.issues if i.state == "opened"]

    def create_issue(self, title: str, description: str) -> Issue:
        number = max((i.number for i in self.issues), default=0) + 1
        issue = Issue(number, title, GITLAB_USER, "opened", "", description)
        self.issues.append(issue)
        return issue


@dataclass
class GitLab:
    projects: dict[str, Project]  # by path


def _generate_gitlab(rng: np.random.Generator) -> GitLab:
    projects: dict[str, Project] = {}
    for name in rng.choice(GITLAB_NAMES, size=5, replace=False):
        path = f"{GITLAB_NAMESPACES[rng.integers(len(GITLAB_NAMESPACES))]}/{name}"
        titles = rng.choice(ISSUE_TITLES, size=int(rng.integers(2, 7)), replace=False)
        issues = [
            Issue(
                k + 1,
                str(title),
                FORUM_USERS[rng.integers(len(FORUM_USERS))],
                "opened" if rng.random() < 0.6 else "closed",
                LABELS[rng.integers(len(LABELS))],
            )
            for k, title in enumerate(titles)
        ]
        projects[path] = Project(path, int(rng.integers(0, 500)), issues)
    return GitLab(projects)


# ------------------------------------------------------------------------------ all sites
@dataclass
class World:
    shop: Shop
    forum: Forum
    gitlab: GitLab


def generate_world(seed: int) -> World:
    """Every site's data for one seed (a task's own copy: episodes never share state)."""
    rng = np.random.default_rng([seed, 0x57454241])
    return World(_generate_shop(rng), _generate_forum(rng), _generate_gitlab(rng))


def money(amount: float) -> str:
    return f"${amount:,.2f}"
