"""Sample data for a new installation."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from core.extensions import db
from core.models import Book
from core.services.books import count_books

SAMPLE_BOOKS = (
    {
        "title": "Clean Code",
        "author": "Robert C. Martin",
        "isbn": "9780132350884",
        "year": 2008,
        "description": "A handbook of agile software craftsmanship.",
    },
    {
        "title": "The Pragmatic Programmer",
        "author": "Andrew Hunt and David Thomas",
        "isbn": "9780135957059",
        "year": 2019,
        "description": "20th anniversary edition.",
    },
    {
        "title": "Design Patterns",
        "author": "Erich Gamma et al.",
        "isbn": "9780201633610",
        "year": 1994,
        "description": "Elements of reusable object-oriented software.",
    },
    {
        "title": "Refactoring",
        "author": "Martin Fowler",
        "isbn": "9780134757599",
        "year": 2018,
        "description": "Improving the design of existing code, second edition.",
    },
    {
        "title": "Structure and Interpretation of Computer Programs",
        "author": "Harold Abelson and Gerald Jay Sussman",
        "isbn": "9780262510875",
        "year": 1996,
        "description": None,
    },
    {
        "title": "The Mythical Man-Month",
        "author": "Frederick P. Brooks Jr.",
        "isbn": "9780201835953",
        "year": 1995,
        "description": "Essays on software engineering.",
    },
    {
        "title": "Domain-Driven Design",
        "author": "Eric Evans",
        "isbn": "9780321125217",
        "year": 2003,
        "description": "Tackling complexity in the heart of software.",
    },
    {
        "title": "Fluent Python",
        "author": "Luciano Ramalho",
        "isbn": "9781492056355",
        "year": 2022,
        "description": "Clear, concise, and effective programming.",
    },
    {
        "title": "Flask Web Development",
        "author": "Miguel Grinberg",
        "isbn": "9781491991732",
        "year": 2018,
        "description": "Developing web applications with Python.",
    },
    {
        "title": "Designing Data-Intensive Applications",
        "author": "Martin Kleppmann",
        "isbn": "9781449373320",
        "year": 2017,
        "description": None,
    },
)


def load_samples(*, only_if_empty: bool) -> int:
    """Insert the sample books; returns how many were added (0 when skipped)."""
    if only_if_empty and count_books() > 0:
        return 0
    existing = set(db.session.scalars(db.select(Book.isbn).where(Book.isbn.is_not(None))))
    added = [Book(**data) for data in SAMPLE_BOOKS if data["isbn"] not in existing]
    db.session.add_all(added)
    db.session.commit()
    return len(added)


@click.command("seed")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Only when the catalogue has no books.")
def seed(if_empty: bool):
    """Load the sample books."""
    added = load_samples(only_if_empty=if_empty)
    if added == 0:
        click.echo("No sample books added (the catalogue already has books).")
    else:
        click.echo(f"Added {added} sample books.")
