def test_list_books_in_both_versions(api, make_book):
    make_book(title="Dune")
    response = api.get("/books")
    assert response.status_code == 200
    assert [b["title"] for b in api.items(response)] == ["Dune"]
