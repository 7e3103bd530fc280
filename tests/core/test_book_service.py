"""The book service without HTTP: paging, filters, ordering, ownership and ISBN uniqueness."""

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, Forbidden, NotFound, PreconditionFailed
from core.extensions import db
from core.models import ROLE_ADMIN, Book
from core.paging import Page
from core.principal import Principal
from core.services import auth, books
from core.services.books import ListParams
from core.validation import MAX_PER_PAGE
from tests.conftest import PASSWORD


def add_books(*rows: dict) -> list[Book]:
    """Insert books in one transaction; each row needs at least title and author."""
    created = [Book(**row) for row in rows]
    db.session.add_all(created)
    db.session.commit()
    return created


def numbered(count: int, **fields) -> list[Book]:
    return add_books(
        *({"title": f"Title {n:03}", "author": f"Author {n:03}", **fields} for n in range(count))
    )


def new_user(email: str, role: str = "user"):
    return auth.register(email, PASSWORD, role=role)


def actor(user) -> Principal:
    return Principal.for_user(user)


def ids(page: Page) -> list[int]:
    return [book.id for book in page.items]


# Paging


def test_list_books_returns_the_requested_page_and_totals(ctx):
    numbered(5)
    page = books.list_books(ListParams(page=2, per_page=2))
    assert len(page.items) == 2
    assert (page.total, page.page, page.per_page) == (5, 2, 2)
    assert page.total_pages == 3
    assert page.last_page == 3
    assert page.has_next and page.has_prev


def test_first_page_has_no_prev_and_last_page_has_no_next(ctx):
    numbered(5)
    first = books.list_books(ListParams(page=1, per_page=2))
    last = books.list_books(ListParams(page=3, per_page=2))
    assert first.has_next and not first.has_prev
    assert len(last.items) == 1
    assert last.has_prev and not last.has_next


def test_page_past_the_last_is_empty_with_correct_totals(ctx):
    numbered(3)
    page = books.list_books(ListParams(page=9, per_page=2))
    assert page.items == []
    assert page.total == 3
    assert page.total_pages == 2
    assert not page.has_next
    assert page.has_prev


def test_empty_catalogue_has_zero_pages_and_links_to_page_one(ctx):
    page = books.list_books(ListParams())
    assert page.items == []
    assert page.total == 0
    assert page.total_pages == 0
    assert page.last_page == 1
    assert not page.has_next and not page.has_prev


def test_walking_every_page_returns_every_book_exactly_once(ctx):
    # Equal sort keys everywhere: only the id tie-break keeps the pages disjoint.
    created = numbered(7, year=2000)
    seen = []
    for number in range(1, 5):
        seen += ids(books.list_books(ListParams(page=number, per_page=2, sort="year")))
    assert sorted(seen) == sorted(book.id for book in created)
    assert len(seen) == len(set(seen))


def test_list_params_clamps_per_page_to_the_maximum():
    assert ListParams(per_page=MAX_PER_PAGE + 1).per_page == MAX_PER_PAGE
    assert ListParams(per_page=10_000).per_page == 100
    assert ListParams(per_page=100).per_page == 100
    assert ListParams(per_page=7).per_page == 7


def test_list_books_never_returns_more_than_one_hundred_books(ctx):
    numbered(MAX_PER_PAGE + 5)
    page = books.list_books(ListParams(per_page=500))
    assert page.per_page == 100
    assert len(page.items) == 100
    assert page.total == 105
    assert page.total_pages == 2


def test_list_defaults_are_twenty_per_page_newest_first(ctx):
    created = numbered(25)
    page = books.list_books(ListParams())
    assert page.per_page == 20
    assert len(page.items) == 20
    # Inserted in one transaction, so created_at may tie: the id breaks ties, descending.
    assert ids(page) == [book.id for book in reversed(created)][:20]


def test_page_object_computes_pages_from_total_and_per_page():
    assert Page(items=[], total=41, page=1, per_page=20).total_pages == 3
    assert Page(items=[], total=40, page=2, per_page=20).total_pages == 2
    assert Page(items=[], total=40, page=2, per_page=20).has_next is False
    assert Page(items=[], total=40, page=2, per_page=20).last_page == 2


# Filters


def test_search_matches_a_case_insensitive_substring_of_the_title(ctx):
    dune, _, messiah = add_books(
        {"title": "Dune", "author": "Frank Herbert"},
        {"title": "Foundation", "author": "Isaac Asimov"},
        {"title": "Dune Messiah", "author": "Frank Herbert"},
    )
    page = books.list_books(ListParams(search="dUNe", sort="title", order="asc"))
    assert ids(page) == [dune.id, messiah.id]
    assert page.total == 2


def test_search_does_not_match_the_author(ctx):
    add_books({"title": "Foundation", "author": "Isaac Asimov"})
    assert books.list_books(ListParams(search="asimov")).total == 0


def test_search_treats_like_wildcards_literally(ctx):
    percent, _, underscore = add_books(
        {"title": "100% Done", "author": "A"},
        {"title": "1000 Done", "author": "B"},
        {"title": "a_b", "author": "C"},
    )
    assert ids(books.list_books(ListParams(search="0%"))) == [percent.id]
    assert ids(books.list_books(ListParams(search="_"))) == [underscore.id]
    assert books.list_books(ListParams(search="%")).total == 1


def test_author_filter_matches_a_case_insensitive_substring(ctx):
    _, fowler = add_books(
        {"title": "Dune", "author": "Frank Herbert"},
        {"title": "Refactoring", "author": "Martin Fowler"},
    )
    page = books.list_books(ListParams(author="FOWL"))
    assert ids(page) == [fowler.id]


def test_year_filter_matches_exactly(ctx):
    _, match, _ = add_books(
        {"title": "A", "author": "X", "year": 1999},
        {"title": "B", "author": "X", "year": 2000},
        {"title": "C", "author": "X"},
    )
    page = books.list_books(ListParams(year=2000))
    assert ids(page) == [match.id]
    assert page.total == 1


def test_filters_combine_and_the_total_counts_only_matches(ctx):
    numbered(4)
    _, wanted = add_books(
        {"title": "Dune", "author": "Frank Herbert", "year": 1965},
        {"title": "Dune Messiah", "author": "Frank Herbert", "year": 1969},
    )
    page = books.list_books(ListParams(search="dune", author="herbert", year=1969))
    assert ids(page) == [wanted.id]
    assert page.total == 1
    assert page.total_pages == 1


# Ordering


def test_sort_by_title_is_case_insensitive(ctx):
    zebra, apple, mango = add_books(
        {"title": "zebra", "author": "X"},
        {"title": "Apple", "author": "X"},
        {"title": "mango", "author": "X"},
    )
    asc = books.list_books(ListParams(sort="title", order="asc"))
    desc = books.list_books(ListParams(sort="title", order="desc"))
    assert ids(asc) == [apple.id, mango.id, zebra.id]
    assert ids(desc) == [zebra.id, mango.id, apple.id]


def test_sort_by_author_is_case_insensitive(ctx):
    b, a = add_books({"title": "T", "author": "bob"}, {"title": "T", "author": "Alice"})
    assert ids(books.list_books(ListParams(sort="author", order="asc"))) == [a.id, b.id]


def test_books_without_a_year_sort_last_in_both_orders(ctx):
    none, old, new = add_books(
        {"title": "A", "author": "X"},
        {"title": "B", "author": "X", "year": 1900},
        {"title": "C", "author": "X", "year": 2000},
    )
    assert ids(books.list_books(ListParams(sort="year", order="asc"))) == [old.id, new.id, none.id]
    assert ids(books.list_books(ListParams(sort="year", order="desc"))) == [
        new.id,
        old.id,
        none.id,
    ]


def test_ties_are_broken_by_id_in_the_sort_direction(ctx):
    first, second, third = add_books(*({"title": "Same", "author": "X"} for _ in range(3)))
    asc = books.list_books(ListParams(sort="title", order="asc"))
    desc = books.list_books(ListParams(sort="title", order="desc"))
    assert ids(asc) == [first.id, second.id, third.id]
    assert ids(desc) == [third.id, second.id, first.id]


# Single books


def test_get_book_returns_the_book(ctx):
    (book,) = add_books({"title": "Dune", "author": "Frank Herbert"})
    assert books.get_book(book.id).title == "Dune"


def test_get_book_raises_not_found_for_an_unknown_id(ctx):
    with pytest.raises(NotFound) as caught:
        books.get_book(999_999)
    assert caught.value.status == 404
    assert caught.value.reason == "not_found"


def test_create_book_records_the_creator(ctx):
    owner = new_user("owner@example.com")
    book = books.create_book({"title": "Dune", "author": "Frank Herbert"}, actor(owner))
    assert book.id is not None
    assert book.created_by == owner.id
    assert book.created_at is not None


def test_create_book_raises_conflict_on_a_duplicate_isbn(ctx):
    owner = new_user("owner@example.com")
    books.create_book({"title": "One", "author": "X", "isbn": "9780132350884"}, actor(owner))
    with pytest.raises(Conflict) as caught:
        books.create_book({"title": "Two", "author": "Y", "isbn": "9780132350884"}, actor(owner))
    assert caught.value.reason == "duplicate_isbn"
    assert "isbn" in caught.value.details
    db.session.rollback()
    titles = db.session.scalars(select(Book.title).where(Book.isbn == "9780132350884")).all()
    assert titles == ["One"]


def test_create_book_conflict_from_the_unique_index_leaves_the_session_usable(ctx, monkeypatch):
    owner = new_user("owner@example.com")
    books.create_book({"title": "One", "author": "X", "isbn": "9780132350884"}, actor(owner))
    monkeypatch.setattr(books, "_ensure_isbn_free", lambda isbn: None)
    with pytest.raises(Conflict) as caught:
        books.create_book({"title": "Two", "author": "Y", "isbn": "9780132350884"}, actor(owner))
    assert caught.value.reason == "duplicate_isbn"
    assert books.count_books() == 1


def test_books_without_isbn_do_not_conflict(ctx):
    owner = new_user("owner@example.com")
    books.create_book({"title": "One", "author": "X"}, actor(owner))
    books.create_book({"title": "Two", "author": "Y", "isbn": None}, actor(owner))
    assert books.count_books() == 2


def test_update_book_changes_only_the_given_fields(ctx):
    owner = new_user("owner@example.com")
    book = books.create_book(
        {"title": "Dune", "author": "Frank Herbert", "year": 1965}, actor(owner)
    )
    updated = books.update_book(book.id, {"title": "Dune (1965)"}, actor(owner))
    assert (updated.title, updated.author, updated.year) == ("Dune (1965)", "Frank Herbert", 1965)


def test_update_book_raises_forbidden_for_someone_else(ctx):
    owner = new_user("owner@example.com")
    other = new_user("other@example.com")
    book = books.create_book({"title": "Dune", "author": "Frank Herbert"}, actor(owner))
    with pytest.raises(Forbidden):
        books.update_book(book.id, {"title": "Hijacked"}, actor(other))
    db.session.rollback()
    db.session.expire_all()
    assert books.get_book(book.id).title == "Dune"


def test_update_book_is_allowed_for_an_admin(ctx):
    owner = new_user("owner@example.com")
    admin = new_user("admin@example.com", role=ROLE_ADMIN)
    book = books.create_book({"title": "Dune", "author": "Frank Herbert"}, actor(owner))
    assert books.update_book(book.id, {"title": "Edited"}, actor(admin)).title == "Edited"
    # The creator stays the creator.
    assert books.get_book(book.id).created_by == owner.id


def test_update_book_checks_existence_before_ownership(ctx):
    stranger = new_user("stranger@example.com")
    with pytest.raises(NotFound):
        books.update_book(999_999, {"title": "X"}, actor(stranger))


def test_update_book_to_another_books_isbn_raises_conflict(ctx):
    owner = new_user("owner@example.com")
    books.create_book({"title": "One", "author": "X", "isbn": "9780132350884"}, actor(owner))
    two = books.create_book({"title": "Two", "author": "Y", "isbn": "9780135957059"}, actor(owner))
    with pytest.raises(Conflict) as caught:
        books.update_book(two.id, {"isbn": "9780132350884"}, actor(owner))
    assert caught.value.reason == "duplicate_isbn"
    db.session.rollback()
    db.session.expire_all()
    assert books.get_book(two.id).isbn == "9780135957059"


def test_update_book_keeping_its_own_isbn_is_not_a_conflict(ctx):
    owner = new_user("owner@example.com")
    book = books.create_book({"title": "One", "author": "X", "isbn": "9780132350884"}, actor(owner))
    updated = books.update_book(book.id, {"isbn": "9780132350884", "title": "Uno"}, actor(owner))
    assert (updated.isbn, updated.title) == ("9780132350884", "Uno")


def test_update_book_can_clear_the_isbn(ctx):
    owner = new_user("owner@example.com")
    book = books.create_book({"title": "One", "author": "X", "isbn": "9780132350884"}, actor(owner))
    assert books.update_book(book.id, {"isbn": None}, actor(owner)).isbn is None


def test_delete_book_raises_forbidden_for_a_non_admin_even_the_creator(ctx):
    owner = new_user("owner@example.com")
    book = books.create_book({"title": "Dune", "author": "Frank Herbert"}, actor(owner))
    with pytest.raises(Forbidden):
        books.delete_book(book.id, actor(owner))
    assert books.count_books() == 1


def test_delete_book_checks_the_role_before_existence(ctx):
    someone = new_user("someone@example.com")
    with pytest.raises(Forbidden):
        books.delete_book(999_999, actor(someone))


def test_delete_book_by_an_admin_removes_it(ctx):
    admin = new_user("admin@example.com", role=ROLE_ADMIN)
    keep, gone = add_books({"title": "Keep", "author": "X"}, {"title": "Gone", "author": "Y"})
    books.delete_book(gone.id, actor(admin))
    assert db.session.scalars(select(Book.id)).all() == [keep.id]
    with pytest.raises(NotFound):
        books.get_book(gone.id)


def test_delete_book_by_an_admin_raises_not_found_for_an_unknown_id(ctx):
    admin = new_user("admin@example.com", role=ROLE_ADMIN)
    with pytest.raises(NotFound):
        books.delete_book(999_999, actor(admin))


# Preconditions: the caller's condition on the book, after the permission checks


def refuse(seen: list):
    def precondition(book):
        seen.append(book.id)
        raise PreconditionFailed()

    return precondition


def test_update_book_checks_the_precondition_on_the_loaded_book_and_changes_nothing(ctx):
    owner = new_user("owner@example.com")
    one = books.create_book({"title": "One", "author": "X", "isbn": "9780132350884"}, actor(owner))
    two = books.create_book({"title": "Two", "author": "Y"}, actor(owner))
    seen = []
    # A refused precondition wins over the ISBN conflict the change would cause.
    with pytest.raises(PreconditionFailed):
        books.update_book(two.id, {"isbn": one.isbn}, actor(owner), precondition=refuse(seen))
    assert seen == [two.id]
    db.session.rollback()
    db.session.expire_all()
    assert books.get_book(two.id).isbn is None


def test_update_book_applies_the_changes_when_the_precondition_passes(ctx):
    owner = new_user("owner@example.com")
    book = books.create_book({"title": "One", "author": "X"}, actor(owner))
    seen = []
    updated = books.update_book(book.id, {"title": "Uno"}, actor(owner), precondition=seen.append)
    assert [b.id for b in seen] == [book.id]
    assert updated.title == "Uno"


def test_update_book_checks_existence_and_ownership_before_the_precondition(ctx):
    owner = new_user("owner@example.com")
    other = new_user("other@example.com")
    book = books.create_book({"title": "One", "author": "X"}, actor(owner))
    seen = []
    with pytest.raises(NotFound):
        books.update_book(999_999, {"title": "X"}, actor(owner), precondition=refuse(seen))
    with pytest.raises(Forbidden):
        books.update_book(book.id, {"title": "X"}, actor(other), precondition=refuse(seen))
    assert seen == []


def test_delete_book_keeps_the_book_when_the_precondition_fails(ctx):
    admin = new_user("admin@example.com", role=ROLE_ADMIN)
    (book,) = add_books({"title": "Keep", "author": "X"})
    seen = []
    with pytest.raises(PreconditionFailed):
        books.delete_book(book.id, actor(admin), precondition=refuse(seen))
    assert seen == [book.id]
    with pytest.raises(NotFound):
        books.delete_book(999_999, actor(admin), precondition=refuse(seen))
    assert seen == [book.id]
    db.session.rollback()
    assert books.count_books() == 1


def test_count_books_counts_every_book(ctx):
    numbered(3)
    assert books.count_books() == 3 == db.session.scalar(select(func.count()).select_from(Book))
