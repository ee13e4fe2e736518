"""Search from Cyrillic: Uzbek Cyrillic by transliteration, Russian exonyms by the table, then
trigram matching; the translit table itself."""

from __future__ import annotations

import pytest

from cadastre_gis.translit import exonyms, to_latin, transliterate


@pytest.mark.parametrize(("cyr", "lat"), [
    ("Навоий", "Navoiy"), ("Чилонзор", "Chilonzor"), ("Ғафур Ғулом", "Gʻafur Gʻulom"),
    ("Ўзбекистон", "Oʻzbekiston"), ("Қатортол", "Qatortol"), ("Ҳамза", "Hamza"),
    ("Шайхонтоҳур", "Shayxontohur"), ("Яшнобод", "Yashnobod"), ("Ёшлик", "Yoshlik"),
    ("Ер", "Yer"), ("Мустақиллик", "Mustaqillik"), ("Бектемир", "Bektemir"),
])
def test_uzbek_cyrillic_table(cyr: str, lat: str) -> None:
    assert transliterate(cyr) == lat


@pytest.mark.parametrize(("ru", "lat"), [
    ("Навои", "Navoiy"), ("Чиланзар", "Chilonzor"), ("Юнусабад", "Yunusobod"),
    ("Мирабад", "Mirobod"), ("Алмазар", "Olmazor"), ("Шайхантахур", "Shayxontohur"),
    ("Яккасарай", "Yakkasaroy"), ("Яшнабад", "Yashnobod"), ("Мирзо-Улугбек", "Mirzo Ulugʻbek"),
    ("Учтепа", "Uchtepa"), ("Сергели", "Sergeli"), ("Янгихаят", "Yangihayot"),
    ("Бектемир", "Bektemir"), ("ул. Амира Темура", "ul. Amir Temur"),
    ("Чиланзарский район", "Chilonzor rayon"), ("улица Бабура 12", "ulitsa Bobur 12"),
])
def test_russian_exonyms(ru: str, lat: str) -> None:
    assert to_latin(ru) == lat


def test_latin_is_left_alone() -> None:
    assert to_latin("Alisher Navoiy 12") == "Alisher Navoiy 12"
    assert exonyms("Навоийская") == "Navoiy"


@pytest.mark.parametrize("q", ["Навои", "Навоий", "ул. Алишера Навои", "Alisher Navoiy"])
def test_cyrillic_finds_latin_addresses(client, q) -> None:  # type: ignore[no-untyped-def]
    js = client.get("/api/search", query_string={"q": q, "limit": 5}).get_json()
    assert js["mode"] == "address" and js["results"], js
    assert all("Navoiy" in r["address"] for r in js["results"]), js
    if q != "Alisher Navoiy":
        assert "Navoiy" in js["read_as"]


@pytest.mark.parametrize(("q", "district"), [
    ("Чиланзар", "Chilonzor"), ("Чилонзор", "Chilonzor"), ("Юнусабад", "Yunusobod"),
    ("Яккасарай", "Yakkasaroy"), ("Мирзо Улугбек", "Mirzo Ulugʻbek")])
def test_districts_from_cyrillic(client, q, district) -> None:  # type: ignore[no-untyped-def]
    js = client.get("/api/search", query_string={"q": q}).get_json()
    assert js["districts"] and js["districts"][0]["name"] == district, js["districts"]
    assert len(js["districts"][0]["bbox"]) == 4


def test_russian_street_with_house(client) -> None:  # type: ignore[no-untyped-def]
    latin = client.get("/api/search", query_string={"q": "Bobur 12"}).get_json()["results"]
    cyr = client.get("/api/search", query_string={"q": "улица Бабура, дом 12"}).get_json()["results"]
    assert cyr and [r["cadastral_number"] for r in cyr][:3] == [r["cadastral_number"] for r in latin][:3]


def test_bad_search_input(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/search?q=ул").status_code == 400
    assert client.get("/api/search?q=Навои&limit=99").status_code == 400
    assert client.get("/api/search?q=Навои&limit=x").status_code == 400
