"""What a registry operation would do, told to a registrar: owners and shares before and after.

The operation runs for real inside a savepoint that is always rolled back (the same database
rules check it as when it is confirmed); between the two, the parcels it would leave behind
are read with their rights. Codes become labels in the reader's language (the registry's own
reference tables hold uz/ru/en names); shares are fractions with a percentage.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import registry

# Right kinds in three languages (the reference tables have no names for them).
RIGHT_LABELS: dict[str, dict[str, str]] = {
    "ownership": {"en": "Ownership", "ru": "Собственность", "uz": "Mulk huquqi"},
    "lease": {"en": "Lease", "ru": "Аренда", "uz": "Ijara"},
    "permanent_use": {"en": "Permanent use", "ru": "Постоянное пользование",
                      "uz": "Doimiy foydalanish"},
    "servitude": {"en": "Servitude", "ru": "Сервитут", "uz": "Servitut"},
    "mortgage": {"en": "Mortgage", "ru": "Ипотека", "uz": "Ipoteka"},
    "arrest": {"en": "Arrest (ban)", "ru": "Арест (запрет)", "uz": "Hibsga olish (taqiq)"},
}
DOCUMENT_LABELS: dict[str, dict[str, str]] = {
    "deed": {"en": "Deed", "ru": "Акт", "uz": "Dalolatnoma"},
    "sale_contract": {"en": "Sale contract", "ru": "Договор купли-продажи",
                      "uz": "Oldi-sotdi shartnomasi"},
    "gift_contract": {"en": "Gift contract", "ru": "Договор дарения", "uz": "Hadya shartnomasi"},
    "inheritance": {"en": "Certificate of inheritance", "ru": "Свидетельство о наследстве",
                    "uz": "Meros guvohnomasi"},
    "court_decision": {"en": "Court decision", "ru": "Решение суда", "uz": "Sud qarori"},
    "hokim_decision": {"en": "Hokim's decision", "ru": "Решение хокима", "uz": "Hokim qarori"},
    "survey": {"en": "Survey plan", "ru": "Межевой план", "uz": "Yer tuzish rejasi"},
    "mortgage_agreement": {"en": "Mortgage agreement", "ru": "Договор ипотеки",
                           "uz": "Ipoteka shartnomasi"},
    "lease_agreement": {"en": "Lease agreement", "ru": "Договор аренды",
                        "uz": "Ijara shartnomasi"},
    "servitude_agreement": {"en": "Servitude agreement", "ru": "Соглашение о сервитуте",
                            "uz": "Servitut kelishuvi"},
    "arrest_order": {"en": "Arrest order", "ru": "Постановление об аресте",
                     "uz": "Hibsga olish toʻgʻrisida qaror"},
    "release_order": {"en": "Release order", "ru": "Постановление о снятии",
                      "uz": "Bekor qilish toʻgʻrisida qaror"},
    "other": {"en": "Other document", "ru": "Другой документ", "uz": "Boshqa hujjat"},
}

# Future-tense sentences, one per operation.
SENTENCES: dict[str, dict[str, str]] = {
    "split": {"en": "{parcel} will be split into {results}.",
              "ru": "Участок {parcel} будет разделён на {results}.",
              "uz": "{parcel} uchastkasi {results} uchastkalariga boʻlinadi."},
    "merge": {"en": "{parcels} will be merged into one new parcel {results}.",
              "ru": "Участки {parcels} будут объединены в новый участок {results}.",
              "uz": "{parcels} uchastkalari yangi {results} uchastkasiga birlashtiriladi."},
    "boundary_correction": {
        "en": "The boundary of {parcel} will be corrected: area {before} m² → {after} m².",
        "ru": "Граница участка {parcel} будет исправлена: площадь {before} м² → {after} м².",
        "uz": "{parcel} chegarasi tuzatiladi: maydon {before} m² → {after} m²."},
    "transfer": {"en": "Ownership of {parcel} will pass to the owners shown under “After”.",
                 "ru": "Право собственности на {parcel} перейдёт к владельцам, указанным в графе «После».",
                 "uz": "{parcel} ga boʻlgan mulk huquqi “Keyin” ustunidagi egalarga oʻtadi."},
    "encumbrance_register": {"en": "{what} will be registered on {parcel}.",
                             "ru": "На участок {parcel} будет зарегистрировано: {what}.",
                             "uz": "{parcel} uchastkasiga roʻyxatga olinadi: {what}."},
    "encumbrance_release": {"en": "{what} on {parcel} will be released.",
                            "ru": "С участка {parcel} будет снято: {what}.",
                            "uz": "{parcel} uchastkasidan olib tashlanadi: {what}."},
}
HEADINGS = {
    "before": {"en": "Before", "ru": "До", "uz": "Oldin"},
    "after": {"en": "After", "ru": "После", "uz": "Keyin"},
    "owners": {"en": "Owners and shares", "ru": "Владельцы и доли", "uz": "Egalar va ulushlar"},
    "other": {"en": "Other rights and restrictions", "ru": "Иные права и ограничения",
              "uz": "Boshqa huquqlar va cheklovlar"},
    "none": {"en": "none", "ru": "нет", "uz": "yoʻq"},
    "area": {"en": "Area", "ru": "Площадь", "uz": "Maydon"},
    "retired": {"en": "will be retired", "ru": "будет погашен", "uz": "yopiladi"},
    "new": {"en": "new", "ru": "новый", "uz": "yangi"},
}


def label(table: dict[str, dict[str, str]], code: str | None, lang: str) -> str:
    """The label of ``code`` in ``lang`` (English, then the code itself, as fall-backs)."""
    if code is None:
        return ""
    names = table.get(code)
    return (names.get(lang) or names.get("en") or code) if names else code


def share_text(num: Any, den: Any) -> str:
    """A share as "1/2 (50 %)"; a whole share as "1/1 (100 %)"."""
    if not num or not den:
        return ""
    f = Fraction(int(num), int(den))
    pct = float(f) * 100
    return f"{f.numerator}/{f.denominator} ({pct:.4g} %)"


def _reference_names(conn: Connection, lang: str) -> dict[str, dict[str, str]]:
    col = {"ru": "name_ru", "uz": "name_uz"}.get(lang, "name_en")
    out: dict[str, dict[str, str]] = {}
    for table in ("land_category", "permitted_use"):
        out[table] = {r[0]: r[1] for r in conn.execute(text(f"SELECT code, {col} FROM {table}"))}
    return out


def _state(conn: Connection, number: str, lang: str, refs: dict[str, dict[str, str]]
           ) -> dict[str, Any]:
    p = registry.parcel_summary(conn, number)
    owners, other = [], []
    for r in p["rights"]:
        name = r.get("full_name") or r.get("holder") or ""
        item = {"kind": r["kind"], "label": label(RIGHT_LABELS, r["kind"], lang), "name": name}
        if r["kind"] == "ownership":
            item["share"] = share_text(r["share_num"], r["share_den"])
            owners.append(item)
        else:
            item["registration_number"] = r.get("registration_number")
            item["amount_uzs"] = float(r["amount_uzs"]) if r.get("amount_uzs") is not None else None
            other.append(item)
    return {"cadastral_number": p["cadastral_number"], "status": p["status"],
            "address": p.get("address"), "area_m2": round(float(p["area_m2"]), 1),
            "land_category": refs["land_category"].get(p["land_category"], p["land_category"]),
            "permitted_use": refs["permitted_use"].get(p["permitted_use"], p["permitted_use"]),
            "owners": owners, "other": other}


def preview(conn: Connection, numbers: list[str], run: Callable[[Connection], registry.Result],
            lang: str = "en") -> dict[str, Any]:
    """Run ``run`` in a savepoint that is rolled back; describe parcels before and after.

    ``numbers`` are the parcels the operation starts from; ``run`` performs the operation
    (not as a dry run: the rollback here is what keeps nothing).
    """
    lang = lang if lang in ("uz", "ru", "en") else "en"
    refs = _reference_names(conn, lang)
    before = [_state(conn, n, lang, refs) for n in numbers]
    sp = conn.begin_nested()
    try:
        res = run(conn)
        res.dry_run = True
        res.transaction_id = None
        after = [_state(conn, p["cadastral_number"], lang, refs) for p in res.parcels]
    finally:
        sp.rollback()
    before_numbers = {b["cadastral_number"] for b in before}
    after_numbers = {a["cadastral_number"] for a in after}
    for b in before:
        b["retired"] = b["cadastral_number"] not in after_numbers
    for a in after:
        a["new"] = a["cadastral_number"] not in before_numbers
    results = ", ".join(f"{a['cadastral_number']} ({a['area_m2']} m²)" for a in after)
    what = ""
    if res.kind == "encumbrance_register" and res.rights:
        r = res.rights[0]
        what = label(RIGHT_LABELS, r["kind"], lang) + (f" — {r['holder']}" if r.get("holder")
                                                        else "")
    elif res.kind == "encumbrance_release":
        gone = [o for b in before for o in b["other"]]
        kept = {(o["kind"], o["name"]) for a in after for o in a["other"]}
        what = ", ".join(o["label"] + (f" — {o['name']}" if o["name"] else "")
                         for o in gone if (o["kind"], o["name"]) not in kept)
    sentence = SENTENCES.get(res.kind, {}).get(lang, "").format(
        parcel=numbers[0], parcels=", ".join(numbers), results=results, what=what,
        before=before[0]["area_m2"] if before else "", after=after[0]["area_m2"] if after else "")
    return {"kind": res.kind, "sentence": sentence or res.message, "before": before,
            "after": after, "result": res,
            "labels": {k: v.get(lang, v["en"]) for k, v in HEADINGS.items()}}
