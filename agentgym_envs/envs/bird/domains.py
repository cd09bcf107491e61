"""Generated BIRD-style databases: five domains, each with a schema, deterministic data and
question templates whose gold SQL the catalogue instantiates with values from the data.

A domain has several database instances (``retail_1``, ``retail_2``, ...): the same schema
filled from different seeds, so the same template asks about other values and gets other
answers. Templates cover filters, joins, grouping, ordering, aggregates, nested queries and
NULL handling; ``check`` rejects an instantiation whose answer would be ambiguous (a tie at a
``LIMIT`` boundary), so the gold rows are the only right answer.
"""

# ruff: noqa: E501  (a question, its SQL and its explanation read best as whole lines)
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Template:
    question: str  # str.format with the raw parameter values
    sql: str  # str.format with the parameters as SQL literals
    explain: str  # the expert's thought, str.format with the raw values
    params: str | tuple[dict, ...] | None = None  # SQL naming the parameter columns, or fixed values
    check: str | None = None  # SQL (formatted like ``sql``) that must return a true value
    kinds: tuple[str, ...] = ()  # filter, join, group, order, aggregate, nested, null


@dataclass(frozen=True)
class Domain:
    name: str
    schema_sql: str
    populate: Callable[[random.Random], dict[str, list[tuple]]]
    templates: tuple[Template, ...]


def ranks(*values: int) -> tuple[dict, ...]:
    return tuple({"k": v} for v in values)


def no_tie(values_sql: str, k: str = "{k}", order: str = "DESC") -> str:
    """A check that the k-th and (k+1)-th values of ``values_sql`` (one column ``v``) differ,
    so ``ORDER BY v LIMIT k`` has one right answer."""
    pick = f"SELECT v FROM ({values_sql}) ORDER BY v {order} LIMIT 1 OFFSET"
    return f"SELECT ({pick} {k} - 1) IS NOT ({pick} {k})"


FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Carlos Maria Ahmed Fatima Wei Mei Hiroshi Yuki Ivan Olga Pierre "
    "Claire Luca Giulia Ravi Priya Kwame Amara Lars Ingrid Diego Sofia"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Chen Wang Kim Nguyen Patel Singh Tanaka Sato "
    "Ivanov Petrova Dubois Moreau Rossi Bianchi Mensah Okafor Larsen Berg Silva Costa"
).split()
CITIES = (
    ("Lyon", "France"),
    ("Paris", "France"),
    ("Marseille", "France"),
    ("Berlin", "Germany"),
    ("Munich", "Germany"),
    ("Hamburg", "Germany"),
    ("Madrid", "Spain"),
    ("Seville", "Spain"),
    ("Milan", "Italy"),
    ("Rome", "Italy"),
    ("Boston", "USA"),
    ("Denver", "USA"),
    ("Austin", "USA"),
    ("Seattle", "USA"),
    ("Toronto", "Canada"),
    ("Calgary", "Canada"),
    ("Osaka", "Japan"),
    ("Kyoto", "Japan"),
    ("Porto", "Portugal"),
    ("Lisbon", "Portugal"),
    ("Oslo", "Norway"),
    ("Bergen", "Norway"),
    ("Accra", "Ghana"),
    ("Lagos", "Nigeria"),
)


def person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


def day(rng: random.Random, start: date, span_days: int) -> date:
    return start + timedelta(days=rng.randrange(span_days))


def maybe(rng: random.Random, value, null_share: float):
    return None if rng.random() < null_share else value


def distinct_prices(rng: random.Random, count: int, low: float, high: float) -> list[float]:
    """Prices with two decimals and no repeats, so rankings by price have no ties."""
    seen: set[float] = set()
    while len(seen) < count:
        seen.add(round(rng.uniform(low, high), 2))
    prices = sorted(seen)
    rng.shuffle(prices)
    return prices


# ---------------------------------------------------------------------------------- retail
RETAIL_SCHEMA = """
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL,
    email TEXT, city TEXT NOT NULL, country TEXT NOT NULL, signup_date DATE NOT NULL);
CREATE TABLE products (
    product_id INTEGER PRIMARY KEY, product_name TEXT NOT NULL UNIQUE, category TEXT NOT NULL,
    unit_price REAL NOT NULL, units_in_stock INTEGER NOT NULL, discontinued INTEGER NOT NULL);
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    order_date DATE NOT NULL, status TEXT NOT NULL, shipped_date DATE);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity INTEGER NOT NULL, discount REAL NOT NULL, PRIMARY KEY (order_id, product_id));
"""
PRODUCT_NOUNS = {
    "Electronics": "Headphones Charger Keyboard Mouse Speaker Webcam Monitor Router".split(),
    "Kitchen": "Kettle Toaster Blender Skillet Knife Set Grinder Scale".split(),
    "Garden": "Hose Rake Shovel Planter Sprinkler Pruner Wheelbarrow".split(),
    "Sports": "Yoga Mat Dumbbell Racket Helmet Bottle Backpack Tent".split(),
    "Books": "Atlas Cookbook Novel Dictionary Journal Guide Anthology".split(),
    "Toys": "Puzzle Kite Robot Blocks Doll Train Drone".split(),
}
ADJECTIVES = "Classic Pro Eco Smart Compact Deluxe Ultra Basic Travel Premium Mini Max".split()


def populate_retail(rng: random.Random) -> dict[str, list[tuple]]:
    customers = []
    for cid in range(1, rng.randint(260, 340)):
        first, last = person(rng)
        city, country = rng.choice(CITIES)
        email = maybe(rng, f"{first}.{last}{cid}@example.com".lower(), 0.18)
        customers.append(
            (cid, first, last, email, city, country, day(rng, date(2019, 1, 1), 1500).isoformat())
        )
    names = sorted(
        {
            (cat, f"{adj} {noun}")
            for cat, nouns in PRODUCT_NOUNS.items()
            for noun in nouns
            for adj in ADJECTIVES
        }
    )
    chosen = rng.sample(names, rng.randint(100, 130))
    prices = distinct_prices(rng, len(chosen), 3, 400)
    products = [
        (pid, name, cat, prices[pid - 1], rng.randint(0, 500), int(rng.random() < 0.12))
        for pid, (cat, name) in enumerate(chosen, start=1)
    ]
    orders, items = [], []
    for oid in range(1, rng.randint(1300, 1700)):
        ordered = day(rng, date(2020, 1, 1), 1460)
        status = rng.choices(["delivered", "shipped", "pending", "cancelled"], [70, 12, 10, 8])[0]
        shipped = (
            (ordered + timedelta(days=rng.randint(1, 6))).isoformat()
            if status in ("delivered", "shipped")
            else None
        )
        orders.append((oid, rng.choice(customers)[0], ordered.isoformat(), status, shipped))
        for pid in rng.sample(range(1, len(products) + 1), rng.randint(1, 4)):
            items.append((oid, pid, rng.randint(1, 6), rng.choice([0, 0, 0, 0.05, 0.1, 0.15])))
    return {"customers": customers, "products": products, "orders": orders, "order_items": items}


RETAIL = Domain(
    "retail",
    RETAIL_SCHEMA,
    populate_retail,
    (
        Template(
            "How many customers live in {city}?",
            "SELECT COUNT(*) FROM customers WHERE city = {city}",
            "Customers and their cities are in the customers table, so I count the rows whose city is {city}.",
            "SELECT DISTINCT city FROM customers",
            kinds=("filter", "aggregate"),
        ),
        Template(
            "How many customers in {country} have no email address on record?",
            "SELECT COUNT(*) FROM customers WHERE country = {country} AND email IS NULL",
            "A missing email is a NULL in customers.email, so I count customers of {country} whose email IS NULL "
            "(comparing with = NULL would match nothing).",
            "SELECT DISTINCT country FROM customers",
            kinds=("filter", "null", "aggregate"),
        ),
        Template(
            "List the names of the products in the {category} category that cost more than {price} dollars.",
            "SELECT product_name FROM products WHERE category = {category} AND unit_price > {price}",
            "The products table has each product's category and unit_price; I keep {category} products priced above {price}.",
            "SELECT category, CAST(AVG(unit_price) AS INTEGER) AS price FROM products GROUP BY category",
            kinds=("filter",),
        ),
        Template(
            "Which customers placed an order on {day}? Give their first and last names.",
            "SELECT DISTINCT T1.first_name, T1.last_name FROM customers AS T1 INNER JOIN orders AS T2 "
            "ON T1.customer_id = T2.customer_id WHERE T2.order_date = {day}",
            "Order dates are in orders and names in customers; I join them on customer_id and keep orders dated {day}.",
            "SELECT DISTINCT order_date AS day FROM orders",
            kinds=("join", "filter"),
        ),
        Template(
            "How many orders of each status were placed in {year}?",
            "SELECT status, COUNT(*) FROM orders WHERE STRFTIME('%Y', order_date) = {year} GROUP BY status",
            "I keep the orders whose order_date falls in {year} and count them per status with GROUP BY.",
            "SELECT DISTINCT STRFTIME('%Y', order_date) AS year FROM orders",
            kinds=("group", "filter"),
        ),
        Template(
            "What are the names of the {k} products that sold the most units in total?",
            "SELECT T1.product_name FROM products AS T1 INNER JOIN order_items AS T2 ON T1.product_id = T2.product_id "
            "GROUP BY T1.product_id ORDER BY SUM(T2.quantity) DESC LIMIT {k}",
            "Units sold are order_items.quantity; I sum them per product, join products for the names and keep the top {k}.",
            ranks(1, 2, 3, 5),
            no_tie("SELECT SUM(quantity) AS v FROM order_items GROUP BY product_id"),
            kinds=("join", "group", "order", "aggregate"),
        ),
        Template(
            "List the {category} products whose price is above the average price of that category.",
            "SELECT product_name FROM products WHERE category = {category} AND unit_price > "
            "(SELECT AVG(unit_price) FROM products WHERE category = {category})",
            "A subquery gives the average unit_price of {category}; I list the {category} products priced above it.",
            "SELECT DISTINCT category FROM products",
            kinds=("nested", "aggregate", "filter"),
        ),
        Template(
            "How many customers from {country} have never placed an order?",
            "SELECT COUNT(*) FROM customers WHERE country = {country} AND customer_id NOT IN "
            "(SELECT customer_id FROM orders)",
            "Customers with no order have no customer_id in orders; I count {country} customers NOT IN that list.",
            "SELECT DISTINCT country FROM customers",
            kinds=("nested", "filter", "aggregate"),
        ),
        Template(
            "What is the total quantity ordered of the product '{product}'?",
            "SELECT SUM(T2.quantity) FROM products AS T1 INNER JOIN order_items AS T2 ON T1.product_id = T2.product_id "
            "WHERE T1.product_name = {product}",
            "I find '{product}' in products, join its order_items and add up the quantities.",
            "SELECT product_name AS product FROM products WHERE product_id IN (SELECT product_id FROM order_items)",
            kinds=("join", "aggregate", "filter"),
        ),
        Template(
            "What are the {k} most expensive products that are not discontinued?",
            "SELECT product_name FROM products WHERE discontinued = 0 ORDER BY unit_price DESC LIMIT {k}",
            "Products still sold have discontinued = 0; I sort them by unit_price from the highest and take {k}.",
            ranks(1, 3, 5, 10),
            no_tie("SELECT unit_price AS v FROM products WHERE discontinued = 0"),
            kinds=("order", "filter"),
        ),
        Template(
            "How many orders from customers living in {city} have not been shipped?",
            "SELECT COUNT(*) FROM orders AS T1 INNER JOIN customers AS T2 ON T1.customer_id = T2.customer_id "
            "WHERE T2.city = {city} AND T1.shipped_date IS NULL",
            "An order not shipped has a NULL shipped_date; I join customers to keep those living in {city} and count.",
            "SELECT DISTINCT city FROM customers",
            kinds=("join", "null", "aggregate"),
        ),
        Template(
            "Which customer ids placed more than {n} orders?",
            "SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) > {n}",
            "I group orders by customer_id and keep the groups with more than {n} rows (HAVING filters groups).",
            ({"n": 6}, {"n": 7}, {"n": 8}, {"n": 9}, {"n": 10}),
            kinds=("group", "aggregate"),
        ),
        Template(
            "What is the average unit price of the products in each category?",
            "SELECT category, AVG(unit_price) FROM products GROUP BY category",
            "I group products by category and average unit_price in each group.",
            None,
            kinds=("group", "aggregate"),
        ),
        Template(
            "How many orders did customers from {country} place in {year}?",
            "SELECT COUNT(*) FROM orders AS T1 INNER JOIN customers AS T2 ON T1.customer_id = T2.customer_id "
            "WHERE T2.country = {country} AND STRFTIME('%Y', T1.order_date) = {year}",
            "I join orders to customers, keep customers from {country} and orders dated in {year}, and count.",
            "SELECT DISTINCT T2.country, STRFTIME('%Y', T1.order_date) AS year FROM orders AS T1 "
            "INNER JOIN customers AS T2 ON T1.customer_id = T2.customer_id",
            kinds=("join", "filter", "aggregate"),
        ),
        Template(
            "In which city do the most customers who signed up in {year} live?",
            "SELECT city FROM customers WHERE STRFTIME('%Y', signup_date) = {year} GROUP BY city ORDER BY COUNT(*) DESC LIMIT 1",
            "I keep customers who signed up in {year}, count them per city and take the city with the largest count.",
            "SELECT DISTINCT STRFTIME('%Y', signup_date) AS year FROM customers",
            no_tie(
                "SELECT COUNT(*) AS v FROM customers WHERE STRFTIME('%Y', signup_date) = {year} GROUP BY city",
                "1",
            ),
            kinds=("group", "order", "filter"),
        ),
        Template(
            "What is the total value of the items of order {order}, after discounts?",
            "SELECT SUM(T1.quantity * T2.unit_price * (1 - T1.discount)) FROM order_items AS T1 "
            "INNER JOIN products AS T2 ON T1.product_id = T2.product_id WHERE T1.order_id = {order}",
            "Each item is worth quantity * unit_price * (1 - discount); I join the items of order {order} with their products and sum that.",
            "SELECT order_id AS 'order' FROM orders WHERE order_id % 37 = 0",
            kinds=("join", "aggregate"),
        ),
    ),
)

# ------------------------------------------------------------------------------ university
UNIVERSITY_SCHEMA = """
CREATE TABLE departments (
    department_id INTEGER PRIMARY KEY, department_name TEXT NOT NULL UNIQUE, building TEXT NOT NULL,
    budget INTEGER NOT NULL);
CREATE TABLE instructors (
    instructor_id INTEGER PRIMARY KEY, name TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (department_id), hire_year INTEGER NOT NULL,
    salary INTEGER NOT NULL);
CREATE TABLE students (
    student_id INTEGER PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL,
    department_id INTEGER REFERENCES departments (department_id), enrollment_year INTEGER NOT NULL, gpa REAL);
CREATE TABLE courses (
    course_id INTEGER PRIMARY KEY, course_code TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (department_id), credits INTEGER NOT NULL,
    instructor_id INTEGER REFERENCES instructors (instructor_id));
CREATE TABLE enrollments (
    student_id INTEGER NOT NULL REFERENCES students (student_id),
    course_id INTEGER NOT NULL REFERENCES courses (course_id), semester TEXT NOT NULL, grade TEXT,
    PRIMARY KEY (student_id, course_id, semester));
"""
DEPARTMENTS = {
    "Mathematics": ("MATH", "Calculus,Linear Algebra,Probability,Number Theory,Topology,Statistics"),
    "Computer Science": ("CS", "Algorithms,Databases,Operating Systems,Machine Learning,Compilers,Networks"),
    "Physics": ("PHYS", "Mechanics,Electromagnetism,Quantum Physics,Optics,Thermodynamics"),
    "Biology": ("BIO", "Genetics,Ecology,Cell Biology,Microbiology,Evolution"),
    "History": ("HIST", "Ancient Rome,Medieval Europe,Modern China,World Wars,History of Science"),
    "Economics": ("ECON", "Microeconomics,Macroeconomics,Econometrics,Game Theory,Public Finance"),
    "Chemistry": ("CHEM", "Organic Chemistry,Inorganic Chemistry,Biochemistry,Physical Chemistry"),
    "Philosophy": ("PHIL", "Logic,Ethics,Metaphysics,Philosophy of Mind"),
}
BUILDINGS = "Newton Hall,Curie Building,Turing Center,Darwin Hall,Smith Annex".split(",")
SEMESTERS = ("Fall 2021", "Spring 2022", "Fall 2022", "Spring 2023", "Fall 2023")
GRADES = ("A", "B", "C", "D", "F")


def populate_university(rng: random.Random) -> dict[str, list[tuple]]:
    names = rng.sample(sorted(DEPARTMENTS), rng.randint(6, 8))
    departments = [
        (i, name, rng.choice(BUILDINGS), rng.randrange(200, 2000) * 1000)
        for i, name in enumerate(names, start=1)
    ]
    instructors = []
    for iid in range(1, rng.randint(40, 60)):
        first, last = person(rng)
        instructors.append(
            (
                iid,
                f"{first} {last}",
                rng.randint(1, len(departments)),
                rng.randint(1990, 2022),
                rng.randrange(5500, 16000) * 10 + iid,
            )
        )
    courses = []
    for dept_id, name, _, _ in departments:
        code, titles = DEPARTMENTS[name]
        for n, title in enumerate(titles.split(","), start=1):
            staff = [i[0] for i in instructors if i[2] == dept_id]
            courses.append(
                (
                    len(courses) + 1,
                    f"{code}{100 * rng.randint(1, 4) + n}",
                    title,
                    dept_id,
                    rng.choice([2, 3, 3, 4, 5]),
                    maybe(rng, rng.choice(staff) if staff else None, 0.1),
                )
            )
    students = []
    for sid in range(1, rng.randint(350, 450)):
        first, last = person(rng)
        year = rng.randint(2019, 2023)
        gpa = (
            None if year == 2023 and rng.random() < 0.6 else maybe(rng, round(rng.uniform(1.8, 4.0), 2), 0.05)
        )
        students.append((sid, first, last, maybe(rng, rng.randint(1, len(departments)), 0.06), year, gpa))
    enrollments = set()
    for student in students:
        for _ in range(rng.randint(1, 6)):
            semester = rng.choice(SEMESTERS)
            grade = (
                None
                if semester == "Fall 2023" and rng.random() < 0.7
                else rng.choice(GRADES[:3] * 3 + GRADES)
            )
            enrollments.add((student[0], rng.randint(1, len(courses)), semester, grade))
    unique = {row[:3]: row for row in sorted(enrollments, key=str)}
    return {
        "departments": departments,
        "instructors": instructors,
        "students": students,
        "courses": courses,
        "enrollments": sorted(unique.values(), key=lambda r: (r[0], r[1], r[2])),
    }


UNIVERSITY = Domain(
    "university",
    UNIVERSITY_SCHEMA,
    populate_university,
    (
        Template(
            "How many students belong to the {dept} department?",
            "SELECT COUNT(*) FROM students AS T1 INNER JOIN departments AS T2 ON T1.department_id = T2.department_id "
            "WHERE T2.department_name = {dept}",
            "Students refer to their department by department_id; I join departments to match the name {dept} and count.",
            "SELECT department_name AS dept FROM departments",
            kinds=("join", "aggregate"),
        ),
        Template(
            "List the titles of the courses of the {dept} department worth {credits} credits.",
            "SELECT T1.title FROM courses AS T1 INNER JOIN departments AS T2 ON T1.department_id = T2.department_id "
            "WHERE T2.department_name = {dept} AND T1.credits = {credits}",
            "I join courses with departments for the name {dept} and keep the courses with credits = {credits}.",
            "SELECT DISTINCT T2.department_name AS dept, T1.credits FROM courses AS T1 INNER JOIN departments AS T2 "
            "ON T1.department_id = T2.department_id",
            kinds=("join", "filter"),
        ),
        Template(
            "Which students who enrolled in {year} have no GPA recorded yet? Give their first and last names.",
            "SELECT first_name, last_name FROM students WHERE enrollment_year = {year} AND gpa IS NULL",
            "A GPA not recorded is NULL in students.gpa; I keep students of enrollment_year {year} with gpa IS NULL.",
            "SELECT DISTINCT enrollment_year AS year FROM students WHERE gpa IS NULL",
            kinds=("null", "filter"),
        ),
        Template(
            "What is the average GPA of the students of the {dept} department?",
            "SELECT AVG(T1.gpa) FROM students AS T1 INNER JOIN departments AS T2 ON T1.department_id = T2.department_id "
            "WHERE T2.department_name = {dept}",
            "I join students to departments, keep {dept} and average gpa (AVG skips the NULL ones).",
            "SELECT department_name AS dept FROM departments",
            kinds=("join", "aggregate"),
        ),
        Template(
            "How many students took {course} in {semester}?",
            "SELECT COUNT(*) FROM enrollments AS T1 INNER JOIN courses AS T2 ON T1.course_id = T2.course_id "
            "WHERE T2.title = {course} AND T1.semester = {semester}",
            "Enrollments record who took which course when; I join courses for the title {course} and count those in {semester}.",
            "SELECT DISTINCT T2.title AS course, T1.semester FROM enrollments AS T1 INNER JOIN courses AS T2 "
            "ON T1.course_id = T2.course_id",
            kinds=("join", "filter", "aggregate"),
        ),
        Template(
            "Who is the best-paid instructor of the {dept} department?",
            "SELECT T1.name FROM instructors AS T1 INNER JOIN departments AS T2 ON T1.department_id = T2.department_id "
            "WHERE T2.department_name = {dept} ORDER BY T1.salary DESC LIMIT 1",
            "I join instructors with departments, keep {dept}, sort by salary from the highest and take the first.",
            "SELECT DISTINCT T2.department_name AS dept FROM instructors AS T1 INNER JOIN departments AS T2 "
            "ON T1.department_id = T2.department_id",
            kinds=("join", "order"),
        ),
        Template(
            "How many courses does each department offer? Give the department name and the count.",
            "SELECT T2.department_name, COUNT(*) FROM courses AS T1 INNER JOIN departments AS T2 "
            "ON T1.department_id = T2.department_id GROUP BY T2.department_name",
            "I join courses with departments and count courses per department name.",
            None,
            kinds=("join", "group", "aggregate"),
        ),
        Template(
            "Which students got an A in {course}? Give their first and last names.",
            "SELECT DISTINCT T1.first_name, T1.last_name FROM students AS T1 INNER JOIN enrollments AS T2 "
            "ON T1.student_id = T2.student_id INNER JOIN courses AS T3 ON T2.course_id = T3.course_id "
            "WHERE T3.title = {course} AND T2.grade = 'A'",
            "Grades are in enrollments; I join students and courses, keep the course {course} and grade 'A'.",
            "SELECT DISTINCT T2.title AS course FROM enrollments AS T1 INNER JOIN courses AS T2 "
            "ON T1.course_id = T2.course_id WHERE T1.grade = 'A'",
            kinds=("join", "filter"),
        ),
        Template(
            "How many students of the {dept} department have a GPA above the average GPA of all students?",
            "SELECT COUNT(*) FROM students AS T1 INNER JOIN departments AS T2 ON T1.department_id = T2.department_id "
            "WHERE T2.department_name = {dept} AND T1.gpa > (SELECT AVG(gpa) FROM students)",
            "A subquery gives the average gpa of all students; I count {dept} students whose gpa is above it.",
            "SELECT department_name AS dept FROM departments",
            kinds=("nested", "join", "aggregate"),
        ),
        Template(
            "Which courses had no enrollment in {semester}? List their titles.",
            "SELECT title FROM courses WHERE course_id NOT IN (SELECT course_id FROM enrollments WHERE semester = {semester})",
            "A subquery lists the courses taken in {semester}; the courses NOT IN it had no enrollment.",
            tuple({"semester": s} for s in SEMESTERS),
            kinds=("nested", "filter"),
        ),
        Template(
            "Which departments have more than {n} students? Give their names.",
            "SELECT T2.department_name FROM students AS T1 INNER JOIN departments AS T2 "
            "ON T1.department_id = T2.department_id GROUP BY T2.department_name HAVING COUNT(*) > {n}",
            "I count students per department and keep those with more than {n} (HAVING).",
            ({"n": 40}, {"n": 50}, {"n": 55}, {"n": 60}),
            kinds=("group", "join", "aggregate"),
        ),
        Template(
            "What is the total budget of the departments housed in {building}?",
            "SELECT SUM(budget) FROM departments WHERE building = {building}",
            "departments has building and budget; I add up the budgets of those in {building}.",
            "SELECT DISTINCT building FROM departments",
            kinds=("filter", "aggregate"),
        ),
        Template(
            "List the {k} students with the highest GPA among those who enrolled in {year}.",
            "SELECT first_name, last_name FROM students WHERE enrollment_year = {year} AND gpa IS NOT NULL "
            "ORDER BY gpa DESC LIMIT {k}",
            "I keep students of {year} who have a GPA, sort by gpa from the highest and take {k}.",
            "SELECT DISTINCT enrollment_year AS year, 3 AS k FROM students",
            no_tie("SELECT gpa AS v FROM students WHERE enrollment_year = {year} AND gpa IS NOT NULL"),
            kinds=("order", "filter", "null"),
        ),
        Template(
            "How many enrollments in {semester} have no grade yet?",
            "SELECT COUNT(*) FROM enrollments WHERE semester = {semester} AND grade IS NULL",
            "An enrollment without a grade has grade NULL; I count those in {semester}.",
            "SELECT DISTINCT semester FROM enrollments WHERE grade IS NULL",
            kinds=("null", "filter", "aggregate"),
        ),
        Template(
            "Which course had the most enrollments in {semester}? Give its title.",
            "SELECT T2.title FROM enrollments AS T1 INNER JOIN courses AS T2 ON T1.course_id = T2.course_id "
            "WHERE T1.semester = {semester} GROUP BY T1.course_id ORDER BY COUNT(*) DESC LIMIT 1",
            "I count {semester} enrollments per course, join courses for the title, and take the largest count.",
            tuple({"semester": s} for s in SEMESTERS),
            no_tie(
                "SELECT COUNT(*) AS v FROM enrollments WHERE semester = {semester} GROUP BY course_id", "1"
            ),
            kinds=("join", "group", "order"),
        ),
        Template(
            "Which instructors teach no course? Give their names.",
            "SELECT name FROM instructors WHERE instructor_id NOT IN "
            "(SELECT instructor_id FROM courses WHERE instructor_id IS NOT NULL)",
            "courses.instructor_id can be NULL, and NOT IN against a list holding NULL matches nothing, so the "
            "subquery drops NULLs before I keep the instructors absent from it.",
            None,
            kinds=("nested", "null"),
        ),
    ),
)

# -------------------------------------------------------------------------------- hospital
HOSPITAL_SCHEMA = """
CREATE TABLE doctors (
    doctor_id INTEGER PRIMARY KEY, name TEXT NOT NULL, specialty TEXT NOT NULL, hire_date DATE NOT NULL);
CREATE TABLE patients (
    patient_id INTEGER PRIMARY KEY, name TEXT NOT NULL, sex TEXT NOT NULL, birth_date DATE NOT NULL,
    city TEXT NOT NULL, insurance TEXT);
CREATE TABLE appointments (
    appointment_id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES patients (patient_id),
    doctor_id INTEGER NOT NULL REFERENCES doctors (doctor_id), appointment_date DATE NOT NULL,
    reason TEXT NOT NULL, diagnosis TEXT, fee REAL NOT NULL);
CREATE TABLE prescriptions (
    prescription_id INTEGER PRIMARY KEY,
    appointment_id INTEGER NOT NULL REFERENCES appointments (appointment_id), medication TEXT NOT NULL,
    dose_mg INTEGER NOT NULL, days INTEGER NOT NULL);
"""
SPECIALTIES = {
    "Cardiology": ("chest pain", "palpitations", "Hypertension", "Arrhythmia"),
    "Dermatology": ("rash", "itching", "Eczema", "Psoriasis"),
    "Neurology": ("headache", "dizziness", "Migraine", "Neuropathy"),
    "Pediatrics": ("fever", "cough", "Otitis", "Bronchiolitis"),
    "Orthopedics": ("knee pain", "back pain", "Sprain", "Fracture"),
    "Endocrinology": ("fatigue", "weight gain", "Diabetes", "Hypothyroidism"),
}
MEDICATIONS = (
    "Amoxicillin",
    "Ibuprofen",
    "Metformin",
    "Lisinopril",
    "Atorvastatin",
    "Levothyroxine",
    "Cetirizine",
    "Omeprazole",
    "Sumatriptan",
    "Prednisone",
)
INSURERS = ("Allianz", "Aetna", "Cigna", "AXA", "Humana")


def populate_hospital(rng: random.Random) -> dict[str, list[tuple]]:
    doctors = []
    for did in range(1, rng.randint(25, 35)):
        first, last = person(rng)
        doctors.append(
            (
                did,
                f"Dr. {first} {last}",
                rng.choice(sorted(SPECIALTIES)),
                day(rng, date(2000, 1, 1), 8000).isoformat(),
            )
        )
    patients = []
    for pid in range(1, rng.randint(300, 400)):
        first, last = person(rng)
        patients.append(
            (
                pid,
                f"{first} {last}",
                rng.choice("FM"),
                day(rng, date(1940, 1, 1), 29000).isoformat(),
                rng.choice(CITIES[:12])[0],
                maybe(rng, rng.choice(INSURERS), 0.2),
            )
        )
    appointments, prescriptions = [], []
    for aid in range(1, rng.randint(1200, 1500)):
        doctor = rng.choice(doctors)
        reasons = SPECIALTIES[doctor[2]]
        seen = day(rng, date(2021, 1, 1), 1095)
        diagnosis = (
            None
            if seen >= date(2023, 10, 1) and rng.random() < 0.7
            else maybe(rng, rng.choice(reasons[2:]), 0.15)
        )
        appointments.append(
            (
                aid,
                rng.choice(patients)[0],
                doctor[0],
                seen.isoformat(),
                rng.choice(reasons[:2]),
                diagnosis,
                rng.choice([40, 60, 80, 120, 150, 200]) + rng.randint(0, 99) / 100,
            )
        )
        if diagnosis:
            for _ in range(rng.randint(0, 2)):
                prescriptions.append(
                    (
                        len(prescriptions) + 1,
                        aid,
                        rng.choice(MEDICATIONS),
                        rng.choice([5, 10, 20, 50, 100, 250, 500]),
                        rng.choice([5, 7, 10, 14, 30, 90]),
                    )
                )
    return {
        "doctors": doctors,
        "patients": patients,
        "appointments": appointments,
        "prescriptions": prescriptions,
    }


HOSPITAL = Domain(
    "hospital",
    HOSPITAL_SCHEMA,
    populate_hospital,
    (
        Template(
            "How many doctors specialise in {specialty}?",
            "SELECT COUNT(*) FROM doctors WHERE specialty = {specialty}",
            "doctors has each doctor's specialty; I count the rows equal to {specialty}.",
            "SELECT DISTINCT specialty FROM doctors",
            kinds=("filter", "aggregate"),
        ),
        Template(
            "How many patients living in {city} have no insurance on record?",
            "SELECT COUNT(*) FROM patients WHERE city = {city} AND insurance IS NULL",
            "No insurance on record is a NULL insurance; I count {city} patients with insurance IS NULL.",
            "SELECT DISTINCT city FROM patients",
            kinds=("null", "filter", "aggregate"),
        ),
        Template(
            "Which patients saw {doctor}? List their names.",
            "SELECT DISTINCT T1.name FROM patients AS T1 INNER JOIN appointments AS T2 ON T1.patient_id = T2.patient_id "
            "INNER JOIN doctors AS T3 ON T2.doctor_id = T3.doctor_id WHERE T3.name = {doctor}",
            "appointments links patients and doctors; I join all three and keep the appointments with {doctor}.",
            "SELECT name AS doctor FROM doctors WHERE doctor_id IN (SELECT doctor_id FROM appointments "
            "GROUP BY doctor_id HAVING COUNT(*) <= 40) AND name IN (SELECT name FROM doctors GROUP BY name HAVING COUNT(*) = 1)",
            kinds=("join", "filter"),
        ),
        Template(
            "What was the total of the fees charged by {specialty} doctors in {year}?",
            "SELECT SUM(T1.fee) FROM appointments AS T1 INNER JOIN doctors AS T2 ON T1.doctor_id = T2.doctor_id "
            "WHERE T2.specialty = {specialty} AND STRFTIME('%Y', T1.appointment_date) = {year}",
            "Fees are on appointments and specialties on doctors; I join them, keep {specialty} in {year} and sum fee.",
            "SELECT DISTINCT T2.specialty, STRFTIME('%Y', T1.appointment_date) AS year FROM appointments AS T1 "
            "INNER JOIN doctors AS T2 ON T1.doctor_id = T2.doctor_id",
            kinds=("join", "aggregate", "filter"),
        ),
        Template(
            "How many appointments of each diagnosis did {specialty} doctors record?",
            "SELECT T1.diagnosis, COUNT(*) FROM appointments AS T1 INNER JOIN doctors AS T2 ON T1.doctor_id = T2.doctor_id "
            "WHERE T2.specialty = {specialty} AND T1.diagnosis IS NOT NULL GROUP BY T1.diagnosis",
            "I join appointments to doctors, keep {specialty}, drop appointments without a diagnosis and count per diagnosis.",
            "SELECT DISTINCT specialty FROM doctors",
            kinds=("join", "group", "null"),
        ),
        Template(
            "Which doctor had the most appointments in {year}? Give the name.",
            "SELECT T2.name FROM appointments AS T1 INNER JOIN doctors AS T2 ON T1.doctor_id = T2.doctor_id "
            "WHERE STRFTIME('%Y', T1.appointment_date) = {year} GROUP BY T1.doctor_id ORDER BY COUNT(*) DESC LIMIT 1",
            "I count {year} appointments per doctor, join doctors for the name and take the highest count.",
            "SELECT DISTINCT STRFTIME('%Y', appointment_date) AS year FROM appointments",
            no_tie(
                "SELECT COUNT(*) AS v FROM appointments WHERE STRFTIME('%Y', appointment_date) = {year} GROUP BY doctor_id",
                "1",
            ),
            kinds=("join", "group", "order"),
        ),
        Template(
            "How many appointments since {day} still have no diagnosis?",
            "SELECT COUNT(*) FROM appointments WHERE appointment_date >= {day} AND diagnosis IS NULL",
            "A missing diagnosis is NULL; I count appointments on or after {day} whose diagnosis IS NULL.",
            ({"day": "2023-10-01"}, {"day": "2023-11-01"}, {"day": "2023-12-01"}, {"day": "2022-01-01"}),
            kinds=("null", "filter", "aggregate"),
        ),
        Template(
            "What is the average daily dose in mg of {medication} prescriptions?",
            "SELECT AVG(dose_mg) FROM prescriptions WHERE medication = {medication}",
            "prescriptions has medication and dose_mg; I average the doses of {medication}.",
            "SELECT DISTINCT medication FROM prescriptions",
            kinds=("aggregate", "filter"),
        ),
        Template(
            "Which patients were prescribed {medication}? List their names.",
            "SELECT DISTINCT T1.name FROM patients AS T1 INNER JOIN appointments AS T2 ON T1.patient_id = T2.patient_id "
            "INNER JOIN prescriptions AS T3 ON T2.appointment_id = T3.appointment_id WHERE T3.medication = {medication}",
            "Prescriptions hang off appointments, which name the patient; I join the three and keep {medication}.",
            "SELECT DISTINCT medication FROM prescriptions GROUP BY medication HAVING COUNT(*) <= 30",
            kinds=("join", "filter"),
        ),
        Template(
            "How many patients born before {year} have never had an appointment?",
            "SELECT COUNT(*) FROM patients WHERE birth_date < {year} AND patient_id NOT IN (SELECT patient_id FROM appointments)",
            "A subquery lists patients with appointments; I count those born before {year} NOT IN it.",
            tuple({"year": str(y)} for y in (1950, 1960, 1970, 1980, 1990, 2000)),
            kinds=("nested", "filter"),
        ),
        Template(
            "Which specialties charge an average fee above {fee}?",
            "SELECT T2.specialty FROM appointments AS T1 INNER JOIN doctors AS T2 ON T1.doctor_id = T2.doctor_id "
            "GROUP BY T2.specialty HAVING AVG(T1.fee) > {fee}",
            "I join appointments to doctors, average the fee per specialty and keep those above {fee} (HAVING).",
            tuple({"fee": f} for f in (100, 105, 110, 115)),
            kinds=("join", "group", "aggregate"),
        ),
        Template(
            "What are the names of the {k} most recently hired doctors?",
            "SELECT name FROM doctors ORDER BY hire_date DESC LIMIT {k}",
            "doctors has hire_date; sorting it from the latest and taking {k} gives the newest hires.",
            ranks(1, 2, 3, 5),
            no_tie("SELECT hire_date AS v FROM doctors"),
            kinds=("order",),
        ),
        Template(
            "Which patients from {city} had an appointment costing more than the average fee? Give their patient ids.",
            "SELECT DISTINCT T1.patient_id FROM patients AS T1 INNER JOIN appointments AS T2 ON T1.patient_id = T2.patient_id "
            "WHERE T1.city = {city} AND T2.fee > (SELECT AVG(fee) FROM appointments)",
            "A subquery gives the average fee; I join patients of {city} to their appointments costing more than it.",
            "SELECT DISTINCT city FROM patients",
            kinds=("nested", "join", "filter"),
        ),
        Template(
            "How many female and male patients saw a {specialty} doctor?",
            "SELECT T1.sex, COUNT(DISTINCT T1.patient_id) FROM patients AS T1 INNER JOIN appointments AS T2 "
            "ON T1.patient_id = T2.patient_id INNER JOIN doctors AS T3 ON T2.doctor_id = T3.doctor_id "
            "WHERE T3.specialty = {specialty} GROUP BY T1.sex",
            "I join patients, appointments and doctors, keep {specialty} and count distinct patients per sex.",
            "SELECT DISTINCT specialty FROM doctors",
            kinds=("join", "group", "aggregate"),
        ),
        Template(
            "How many appointments has the patient with id {pid} had, and how much did they pay in fees altogether?",
            "SELECT COUNT(*), SUM(fee) FROM appointments WHERE patient_id = {pid}",
            "Each appointment row has the patient_id and its fee; for patient {pid} I count the rows and sum fee.",
            "SELECT DISTINCT patient_id AS pid FROM appointments WHERE patient_id % 3 = 0",
            kinds=("aggregate", "filter"),
        ),
        Template(
            "Which doctors did patients living in {city} see in {year}? Give the doctors' names.",
            "SELECT DISTINCT T3.name FROM patients AS T1 INNER JOIN appointments AS T2 ON T1.patient_id = T2.patient_id "
            "INNER JOIN doctors AS T3 ON T2.doctor_id = T3.doctor_id WHERE T1.city = {city} "
            "AND STRFTIME('%Y', T2.appointment_date) = {year}",
            "I join patients to their appointments and doctors, keep patients of {city} and appointments in {year}, "
            "and list the distinct doctor names.",
            "SELECT DISTINCT city, STRFTIME('%Y', T2.appointment_date) AS year FROM patients AS T1 "
            "INNER JOIN appointments AS T2 ON T1.patient_id = T2.patient_id",
            kinds=("join", "filter"),
        ),
    ),
)

# --------------------------------------------------------------------------------- library
LIBRARY_SCHEMA = """
CREATE TABLE authors (
    author_id INTEGER PRIMARY KEY, name TEXT NOT NULL, nationality TEXT NOT NULL, birth_year INTEGER NOT NULL,
    death_year INTEGER);
CREATE TABLE books (
    book_id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER NOT NULL REFERENCES authors (author_id),
    genre TEXT NOT NULL, publication_year INTEGER NOT NULL, pages INTEGER NOT NULL);
CREATE TABLE members (
    member_id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, join_date DATE NOT NULL, phone TEXT);
CREATE TABLE loans (
    loan_id INTEGER PRIMARY KEY, book_id INTEGER NOT NULL REFERENCES books (book_id),
    member_id INTEGER NOT NULL REFERENCES members (member_id), loan_date DATE NOT NULL, due_date DATE NOT NULL,
    return_date DATE);
"""
GENRES = ("Mystery", "Science Fiction", "Fantasy", "Biography", "History", "Poetry", "Romance", "Thriller")
TITLE_A = "Silent Hidden Last Broken Golden Winter Burning Forgotten Distant Crimson Endless Quiet".split()
TITLE_B = "River Garden Empire Letters Harbor Machine Forest Kingdom Voyage Mirror Archive Summer".split()


def populate_library(rng: random.Random) -> dict[str, list[tuple]]:
    authors = []
    for aid in range(1, rng.randint(60, 80)):
        first, last = person(rng)
        born = rng.randint(1900, 1990)
        authors.append(
            (
                aid,
                f"{first} {last}",
                rng.choice(CITIES)[1],
                born,
                maybe(rng, min(born + rng.randint(40, 95), 2023), 0.6) if born < 1960 else None,
            )
        )
    titles = rng.sample([f"The {a} {b}" for a in TITLE_A for b in TITLE_B], rng.randint(110, 140))
    books = [
        (
            bid,
            title,
            rng.choice(authors)[0],
            rng.choice(GENRES),
            rng.randint(1950, 2023),
            rng.randint(90, 900),
        )
        for bid, title in enumerate(titles, start=1)
    ]
    members = []
    for mid in range(1, rng.randint(200, 260)):
        first, last = person(rng)
        members.append(
            (
                mid,
                f"{first} {last}",
                rng.choice(CITIES[:10])[0],
                day(rng, date(2015, 1, 1), 3000).isoformat(),
                maybe(rng, f"555-{rng.randint(1000, 9999)}", 0.25),
            )
        )
    loans = []
    for lid in range(1, rng.randint(1000, 1300)):
        lent = day(rng, date(2021, 1, 1), 1090)
        returned = lent + timedelta(days=rng.randint(2, 40))
        open_loan = returned > date(2023, 12, 20) or rng.random() < 0.05
        loans.append(
            (
                lid,
                rng.choice(books)[0],
                rng.choice(members)[0],
                lent.isoformat(),
                (lent + timedelta(days=21)).isoformat(),
                None if open_loan else returned.isoformat(),
            )
        )
    return {"authors": authors, "books": books, "members": members, "loans": loans}


LIBRARY = Domain(
    "library",
    LIBRARY_SCHEMA,
    populate_library,
    (
        Template(
            "How many {genre} books does the library hold?",
            "SELECT COUNT(*) FROM books WHERE genre = {genre}",
            "books has a genre column; I count the rows equal to {genre}.",
            "SELECT DISTINCT genre FROM books",
            kinds=("filter", "aggregate"),
        ),
        Template(
            "List the titles of the books written by {author}.",
            "SELECT T1.title FROM books AS T1 INNER JOIN authors AS T2 ON T1.author_id = T2.author_id WHERE T2.name = {author}",
            "Books name their author by author_id; I join authors and keep the books of {author}.",
            "SELECT name AS author FROM authors WHERE author_id IN (SELECT author_id FROM books) "
            "AND name IN (SELECT name FROM authors GROUP BY name HAVING COUNT(*) = 1)",
            kinds=("join", "filter"),
        ),
        Template(
            "Which living authors from {country} are in the catalogue? Give their names.",
            "SELECT name FROM authors WHERE nationality = {country} AND death_year IS NULL",
            "A living author has no death_year (NULL); I keep {country} authors whose death_year IS NULL.",
            "SELECT DISTINCT nationality AS country FROM authors WHERE death_year IS NULL",
            kinds=("null", "filter"),
        ),
        Template(
            "How many loans of members from {city} have not been returned?",
            "SELECT COUNT(*) FROM loans AS T1 INNER JOIN members AS T2 ON T1.member_id = T2.member_id "
            "WHERE T2.city = {city} AND T1.return_date IS NULL",
            "An unreturned loan has a NULL return_date; I join members to keep {city} and count.",
            "SELECT DISTINCT city FROM members",
            kinds=("join", "null", "aggregate"),
        ),
        Template(
            "How many books of each genre were published after {year}?",
            "SELECT genre, COUNT(*) FROM books WHERE publication_year > {year} GROUP BY genre",
            "I keep books with publication_year after {year} and count them per genre.",
            tuple({"year": y} for y in (1970, 1980, 1990, 2000, 2010)),
            kinds=("group", "filter"),
        ),
        Template(
            "What are the titles of the {k} longest {genre} books?",
            "SELECT title FROM books WHERE genre = {genre} ORDER BY pages DESC LIMIT {k}",
            "I keep {genre} books, sort by pages from the most and take {k}.",
            "SELECT DISTINCT genre, 2 AS k FROM books",
            no_tie("SELECT pages AS v FROM books WHERE genre = {genre}"),
            kinds=("order", "filter"),
        ),
        Template(
            "Which book was borrowed most often in {year}? Give its title.",
            "SELECT T2.title FROM loans AS T1 INNER JOIN books AS T2 ON T1.book_id = T2.book_id "
            "WHERE STRFTIME('%Y', T1.loan_date) = {year} GROUP BY T1.book_id ORDER BY COUNT(*) DESC LIMIT 1",
            "I count {year} loans per book, join books for the title and take the highest count.",
            "SELECT DISTINCT STRFTIME('%Y', loan_date) AS year FROM loans",
            no_tie(
                "SELECT COUNT(*) AS v FROM loans WHERE STRFTIME('%Y', loan_date) = {year} GROUP BY book_id",
                "1",
            ),
            kinds=("join", "group", "order"),
        ),
        Template(
            "How many members who joined before {year} have never borrowed a book?",
            "SELECT COUNT(*) FROM members WHERE join_date < {year} AND member_id NOT IN (SELECT member_id FROM loans)",
            "A subquery lists the members with loans; I count those who joined before {year} NOT IN it.",
            tuple({"year": str(y)} for y in range(2016, 2024)),
            kinds=("nested", "filter", "aggregate"),
        ),
        Template(
            "What is the average number of pages of the books by authors from {country}?",
            "SELECT AVG(T1.pages) FROM books AS T1 INNER JOIN authors AS T2 ON T1.author_id = T2.author_id "
            "WHERE T2.nationality = {country}",
            "I join books with authors, keep {country} authors and average pages.",
            "SELECT DISTINCT T2.nationality AS country FROM books AS T1 INNER JOIN authors AS T2 ON T1.author_id = T2.author_id",
            kinds=("join", "aggregate"),
        ),
        Template(
            "Which members returned a book more than {n} days after borrowing it? Give their names.",
            "SELECT DISTINCT T2.name FROM loans AS T1 INNER JOIN members AS T2 ON T1.member_id = T2.member_id "
            "WHERE JULIANDAY(T1.return_date) - JULIANDAY(T1.loan_date) > {n}",
            "Days on loan are JULIANDAY(return_date) - JULIANDAY(loan_date); I keep loans longer than {n} and name the members.",
            ({"n": 36}, {"n": 37}, {"n": 38}, {"n": 39}),
            kinds=("join", "filter"),
        ),
        Template(
            "Which authors have written more than {n} books? Give their names.",
            "SELECT T2.name FROM books AS T1 INNER JOIN authors AS T2 ON T1.author_id = T2.author_id "
            "GROUP BY T1.author_id HAVING COUNT(*) > {n}",
            "I count books per author and keep those with more than {n} (HAVING), joining authors for the names.",
            ({"n": 2}, {"n": 3}, {"n": 4}),
            kinds=("join", "group", "aggregate"),
        ),
        Template(
            "What are the titles of the books longer than the average book of their genre {genre}?",
            "SELECT title FROM books WHERE genre = {genre} AND pages > (SELECT AVG(pages) FROM books WHERE genre = {genre})",
            "A subquery gives the average pages of {genre} books; I list the {genre} books longer than it.",
            "SELECT DISTINCT genre FROM books",
            kinds=("nested", "filter"),
        ),
        Template(
            "How many loans were made in {month}?",
            "SELECT COUNT(*) FROM loans WHERE STRFTIME('%Y-%m', loan_date) = {month}",
            "loan_date is an ISO date; I count loans whose year-month is {month}.",
            "SELECT DISTINCT STRFTIME('%Y-%m', loan_date) AS month FROM loans",
            kinds=("filter", "aggregate"),
        ),
        Template(
            "Which members from {city} have no phone number on record?",
            "SELECT name FROM members WHERE city = {city} AND phone IS NULL",
            "No phone number is a NULL phone; I keep {city} members with phone IS NULL.",
            "SELECT DISTINCT city FROM members",
            kinds=("null", "filter"),
        ),
    ),
)

# --------------------------------------------------------------------------------- flights
FLIGHTS_SCHEMA = """
CREATE TABLE airports (
    airport_code TEXT PRIMARY KEY, airport_name TEXT NOT NULL, city TEXT NOT NULL, country TEXT NOT NULL);
CREATE TABLE airlines (
    airline_id INTEGER PRIMARY KEY, airline_name TEXT NOT NULL UNIQUE, country TEXT NOT NULL);
CREATE TABLE flights (
    flight_id INTEGER PRIMARY KEY, flight_number TEXT NOT NULL,
    airline_id INTEGER NOT NULL REFERENCES airlines (airline_id),
    origin TEXT NOT NULL REFERENCES airports (airport_code),
    destination TEXT NOT NULL REFERENCES airports (airport_code), departure_date DATE NOT NULL,
    distance_km INTEGER NOT NULL, status TEXT NOT NULL, delay_minutes INTEGER);
CREATE TABLE bookings (
    booking_id INTEGER PRIMARY KEY, flight_id INTEGER NOT NULL REFERENCES flights (flight_id),
    passenger_name TEXT NOT NULL, seat_class TEXT NOT NULL, price REAL NOT NULL);
"""
AIRPORTS = (
    ("CDG", "Charles de Gaulle", "Paris", "France"),
    ("LYS", "Saint-Exupery", "Lyon", "France"),
    ("FRA", "Frankfurt Main", "Frankfurt", "Germany"),
    ("MUC", "Franz Josef Strauss", "Munich", "Germany"),
    ("MAD", "Barajas", "Madrid", "Spain"),
    ("BCN", "El Prat", "Barcelona", "Spain"),
    ("FCO", "Fiumicino", "Rome", "Italy"),
    ("MXP", "Malpensa", "Milan", "Italy"),
    ("BOS", "Logan", "Boston", "USA"),
    ("SEA", "Sea-Tac", "Seattle", "USA"),
    ("DEN", "Denver International", "Denver", "USA"),
    ("YYZ", "Pearson", "Toronto", "Canada"),
    ("KIX", "Kansai", "Osaka", "Japan"),
    ("LIS", "Humberto Delgado", "Lisbon", "Portugal"),
    ("OSL", "Gardermoen", "Oslo", "Norway"),
    ("ACC", "Kotoka", "Accra", "Ghana"),
)
AIRLINES = (
    ("Air Azur", "France"),
    ("Lufthansa Regional", "Germany"),
    ("Iberwing", "Spain"),
    ("Alitalica", "Italy"),
    ("Northway", "Norway"),
    ("Maple Air", "Canada"),
    ("Sakura Sky", "Japan"),
    ("Liberty Jet", "USA"),
    ("Atlantic Blue", "Portugal"),
    ("Gold Coast Air", "Ghana"),
)


def populate_flights(rng: random.Random) -> dict[str, list[tuple]]:
    airports = rng.sample(AIRPORTS, rng.randint(12, 16))
    airlines = [
        (i, name, country)
        for i, (name, country) in enumerate(rng.sample(AIRLINES, rng.randint(6, 10)), start=1)
    ]
    distances: dict[tuple[str, str], int] = {}
    flights, bookings = [], []
    for fid in range(1, rng.randint(900, 1200)):
        origin, destination = (a[0] for a in rng.sample(airports, 2))
        key = tuple(sorted((origin, destination)))
        distance = distances.setdefault(key, rng.randint(300, 9000))
        airline = rng.choice(airlines)
        status = rng.choices(["On time", "Delayed", "Cancelled"], [70, 24, 6])[0]
        delay = {"On time": 0, "Delayed": rng.randint(15, 300), "Cancelled": None}[status]
        flights.append(
            (
                fid,
                f"{airline[1][:2].upper()}{rng.randint(100, 9999)}",
                airline[0],
                origin,
                destination,
                day(rng, date(2022, 1, 1), 730).isoformat(),
                distance,
                status,
                delay,
            )
        )
        for _ in range(rng.randint(0, 4)):
            first, last = person(rng)
            seat = rng.choices(["Economy", "Premium", "Business"], [75, 15, 10])[0]
            base = distance * {"Economy": 0.08, "Premium": 0.14, "Business": 0.3}[seat]
            bookings.append(
                (len(bookings) + 1, fid, f"{first} {last}", seat, round(base + rng.uniform(10, 90), 2))
            )
    airport_rows = [tuple(a) for a in airports]
    return {"airports": airport_rows, "airlines": airlines, "flights": flights, "bookings": bookings}


FLIGHTS = Domain(
    "flights",
    FLIGHTS_SCHEMA,
    populate_flights,
    (
        Template(
            "How many flights departed from {city}?",
            "SELECT COUNT(*) FROM flights AS T1 INNER JOIN airports AS T2 ON T1.origin = T2.airport_code WHERE T2.city = {city}",
            "Flights name their origin by airport_code; I join airports to match the city {city} and count.",
            "SELECT DISTINCT city FROM airports",
            kinds=("join", "aggregate"),
        ),
        Template(
            "How many {airline} flights were cancelled?",
            "SELECT COUNT(*) FROM flights AS T1 INNER JOIN airlines AS T2 ON T1.airline_id = T2.airline_id "
            "WHERE T2.airline_name = {airline} AND T1.status = 'Cancelled'",
            "I join flights with airlines, keep {airline} and status 'Cancelled', and count.",
            "SELECT airline_name AS airline FROM airlines",
            kinds=("join", "filter", "aggregate"),
        ),
        Template(
            "What is the average delay in minutes of the flights of {airline} that were not cancelled?",
            "SELECT AVG(T1.delay_minutes) FROM flights AS T1 INNER JOIN airlines AS T2 ON T1.airline_id = T2.airline_id "
            "WHERE T2.airline_name = {airline} AND T1.delay_minutes IS NOT NULL",
            "Cancelled flights have a NULL delay; I average delay_minutes of {airline}'s flights where it IS NOT NULL.",
            "SELECT airline_name AS airline FROM airlines",
            kinds=("join", "null", "aggregate"),
        ),
        Template(
            "How many flights of each status left {code} in {year}?",
            "SELECT status, COUNT(*) FROM flights WHERE origin = {code} AND STRFTIME('%Y', departure_date) = {year} GROUP BY status",
            "I keep flights whose origin is {code} and departure_date in {year}, and count them per status.",
            "SELECT DISTINCT origin AS code, STRFTIME('%Y', departure_date) AS year FROM flights",
            kinds=("group", "filter"),
        ),
        Template(
            "What are the flight numbers of the {k} longest flights that left {code}?",
            "SELECT flight_number FROM flights WHERE origin = {code} ORDER BY distance_km DESC, flight_id LIMIT {k}",
            "I keep flights from {code} and sort by distance_km from the longest; the flight_id order breaks ties "
            "between flights of the same route, and I take {k}.",
            "SELECT DISTINCT origin AS code, 1 AS k FROM flights",
            no_tie("SELECT distance_km AS v FROM flights WHERE origin = {code}", "1"),
            kinds=("order", "filter"),
        ),
        Template(
            "Which airline operated the most flights in {year}?",
            "SELECT T2.airline_name FROM flights AS T1 INNER JOIN airlines AS T2 ON T1.airline_id = T2.airline_id "
            "WHERE STRFTIME('%Y', T1.departure_date) = {year} GROUP BY T1.airline_id ORDER BY COUNT(*) DESC LIMIT 1",
            "I count {year} flights per airline, join airlines for the name and take the highest count.",
            "SELECT DISTINCT STRFTIME('%Y', departure_date) AS year FROM flights",
            no_tie(
                "SELECT COUNT(*) AS v FROM flights WHERE STRFTIME('%Y', departure_date) = {year} GROUP BY airline_id",
                "1",
            ),
            kinds=("join", "group", "order"),
        ),
        Template(
            "What was the total revenue from {seat} bookings on flights to {city}?",
            "SELECT SUM(T1.price) FROM bookings AS T1 INNER JOIN flights AS T2 ON T1.flight_id = T2.flight_id "
            "INNER JOIN airports AS T3 ON T2.destination = T3.airport_code WHERE T1.seat_class = {seat} AND T3.city = {city}",
            "Prices are on bookings; I join flights and their destination airports, keep {seat} seats to {city} and sum.",
            "SELECT DISTINCT T1.seat_class AS seat, T3.city FROM bookings AS T1 INNER JOIN flights AS T2 "
            "ON T1.flight_id = T2.flight_id INNER JOIN airports AS T3 ON T2.destination = T3.airport_code",
            kinds=("join", "aggregate", "filter"),
        ),
        Template(
            "How many flights from {code} had no booking at all?",
            "SELECT COUNT(*) FROM flights WHERE origin = {code} AND flight_id NOT IN (SELECT flight_id FROM bookings)",
            "A subquery lists flights with bookings; I count flights from {code} NOT IN it.",
            "SELECT DISTINCT origin AS code FROM flights",
            kinds=("nested", "filter", "aggregate"),
        ),
        Template(
            "Which passengers flying to {city} paid more than the average {seat} fare for a {seat} seat?",
            "SELECT DISTINCT T1.passenger_name FROM bookings AS T1 INNER JOIN flights AS T2 ON T1.flight_id = T2.flight_id "
            "INNER JOIN airports AS T3 ON T2.destination = T3.airport_code WHERE T3.city = {city} AND T1.seat_class = {seat} "
            "AND T1.price > (SELECT AVG(price) FROM bookings WHERE seat_class = {seat})",
            "A subquery gives the average {seat} price over all bookings; I join flights to destination airports, "
            "keep {seat} bookings to {city} priced above it and list the passengers.",
            "SELECT DISTINCT T1.seat_class AS seat, T3.city FROM bookings AS T1 INNER JOIN flights AS T2 "
            "ON T1.flight_id = T2.flight_id INNER JOIN airports AS T3 ON T2.destination = T3.airport_code "
            "WHERE T1.seat_class <> 'Economy'",
            kinds=("nested", "join", "filter"),
        ),
        Template(
            "Which routes (origin and destination) were flown more than {n} times?",
            "SELECT origin, destination FROM flights GROUP BY origin, destination HAVING COUNT(*) > {n}",
            "I group flights by origin and destination and keep the pairs with more than {n} flights.",
            ({"n": 9}, {"n": 10}, {"n": 11}, {"n": 12}),
            kinds=("group", "aggregate"),
        ),
        Template(
            "How many cancelled flights were headed to {country}?",
            "SELECT COUNT(*) FROM flights AS T1 INNER JOIN airports AS T2 ON T1.destination = T2.airport_code "
            "WHERE T2.country = {country} AND T1.delay_minutes IS NULL",
            "A cancelled flight has no delay recorded (NULL); I join destination airports in {country} and count those.",
            "SELECT DISTINCT country FROM airports",
            kinds=("join", "null", "aggregate"),
        ),
        Template(
            "What is the name of the airport with the code {code}, and in which city is it?",
            "SELECT airport_name, city FROM airports WHERE airport_code = {code}",
            "airports is keyed by airport_code; I read the name and city of {code}.",
            "SELECT airport_code AS code FROM airports",
            kinds=("filter",),
        ),
        Template(
            "How many passengers flew {seat} on {airline} flights in {month}?",
            "SELECT COUNT(*) FROM bookings AS T1 INNER JOIN flights AS T2 ON T1.flight_id = T2.flight_id "
            "INNER JOIN airlines AS T3 ON T2.airline_id = T3.airline_id WHERE T1.seat_class = {seat} "
            "AND T3.airline_name = {airline} AND STRFTIME('%Y-%m', T2.departure_date) = {month}",
            "I join bookings, flights and airlines and keep {seat} seats on {airline} departing in {month}.",
            "SELECT DISTINCT T1.seat_class AS seat, T3.airline_name AS airline, STRFTIME('%Y-%m', T2.departure_date) AS month "
            "FROM bookings AS T1 INNER JOIN flights AS T2 ON T1.flight_id = T2.flight_id INNER JOIN airlines AS T3 "
            "ON T2.airline_id = T3.airline_id",
            kinds=("join", "filter", "aggregate"),
        ),
    ),
)

DOMAINS: tuple[Domain, ...] = (RETAIL, UNIVERSITY, HOSPITAL, LIBRARY, FLIGHTS)
