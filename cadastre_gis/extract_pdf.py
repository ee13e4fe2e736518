"""The human form of an extract: a PDF (reportlab) drawn only from the signed content.

It carries every field of the content, a plan (parcel outline, neighbours' numbers, buildings,
numbered boundary points, scale bar, north arrow), the coordinate table in SK-42 GK zone 12
and WGS 84, a QR code to the verification page, and — as PDF file attachments — the
canonical JSON and its detached signature, so the PDF itself can be verified.
"""

from __future__ import annotations

import io
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import qrcode
from reportlab.graphics.shapes import Circle, Drawing, Group, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from .settings import Settings

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
CONTENT_NAME = "extract.json"
SIGNATURE_NAME = "extract.signature.json"


@lru_cache(maxsize=1)
def fonts() -> tuple[str, str, str]:
    """Regular, bold and monospace font names; DejaVu (Cyrillic, ʻ) when installed."""
    if (DEJAVU / "DejaVuSans.ttf").exists():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(DEJAVU / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(DEJAVU / "DejaVuSans-Bold.ttf")))
        mono = "DejaVuSansMono"
        if (DEJAVU / "DejaVuSansMono.ttf").exists():
            pdfmetrics.registerFont(TTFont(mono, str(DEJAVU / "DejaVuSansMono.ttf")))
        else:
            mono = "DejaVuSans"
        return "DejaVuSans", "DejaVuSans-Bold", mono
    # Fallback: reportlab's bundled Vera (Latin only; Cyrillic shows as boxes). Install the
    # Debian package fonts-dejavu-core for Russian text.
    import reportlab

    vera = Path(reportlab.__file__).parent / "fonts"
    try:
        pdfmetrics.registerFont(TTFont("Vera", str(vera / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont("VeraBd", str(vera / "VeraBd.ttf")))
        return "Vera", "VeraBd", "Courier"
    except Exception:  # noqa: BLE001 - last resort: the PDF core fonts
        return "Helvetica", "Helvetica-Bold", "Courier"


def _styles() -> dict[str, ParagraphStyle]:
    reg, bold, mono = fonts()
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=14, leading=17, spaceAfter=2),
        "sub": ParagraphStyle("sub", fontName=reg, fontSize=8.5, leading=11,
                              textColor=colors.HexColor("#444444")),
        "h": ParagraphStyle("h", fontName=bold, fontSize=10.5, leading=13, spaceBefore=8,
                            spaceAfter=3, textColor=colors.HexColor("#0b3d6e")),
        "cell": ParagraphStyle("cell", fontName=reg, fontSize=7.8, leading=9.6),
        "cellb": ParagraphStyle("cellb", fontName=bold, fontSize=7.8, leading=9.6),
        "small": ParagraphStyle("small", fontName=reg, fontSize=6.8, leading=8.4),
        "mono": ParagraphStyle("mono", fontName=mono, fontSize=6.3, leading=7.8),
        "center": ParagraphStyle("center", fontName=reg, fontSize=7, leading=9, alignment=TA_CENTER),
    }


def _esc(v: Any) -> str:
    if v is None or v == "":
        return "—"
    return (str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _esc(v)
    s = f"{f:,.{digits}f}".replace(",", " ")
    return s


def _table(rows: list[list[Any]], widths: list[float], st: dict[str, ParagraphStyle],
           header: bool = True, zebra: bool = True) -> Table:
    data = []
    for i, r in enumerate(rows):
        style = st["cellb"] if header and i == 0 else st["cell"]
        data.append([c if isinstance(c, Flowable) else Paragraph(_esc(c) if not isinstance(c, str)
                     or not c.startswith("<") else c, style) for c in r])
    t = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    cmds: list[tuple] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if header:
        cmds.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dfe8f1")))
    if zebra:
        for i in range(1 if header else 0, len(rows)):
            if i % 2 == 0:
                cmds.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#f5f7f9")))
    t.setStyle(TableStyle(cmds))
    return t


def _kv(rows: list[tuple[str, Any]], st: dict[str, ParagraphStyle], width: float) -> Table:
    data = [[Paragraph(k, st["cellb"]), Paragraph(_esc(v) if not (isinstance(v, str) and
            v.startswith("<")) else v, st["cell"])] for k, v in rows]
    t = Table(data, colWidths=[width * 0.34, width * 0.66])
    t.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa5b1")),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef2f6")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]))
    return t


class QR(Flowable):
    """A QR code drawn as vector squares (crisp at any resolution)."""

    def __init__(self, data: str, size: float) -> None:
        """Encode ``data`` into a square of ``size`` points."""
        super().__init__()
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
        qr.add_data(data)
        qr.make(fit=True)
        self.matrix = qr.get_matrix()
        self.size = size
        self.width = self.height = size

    def draw(self) -> None:
        """Draw the modules."""
        n = len(self.matrix)
        cell = self.size / n
        c = self.canv
        c.setFillColor(colors.white)
        c.rect(0, 0, self.size, self.size, stroke=0, fill=1)
        c.setFillColor(colors.black)
        for r, row in enumerate(self.matrix):
            for k, on in enumerate(row):
                if on:
                    c.rect(k * cell, self.size - (r + 1) * cell, cell, cell, stroke=0, fill=1)


def _nice(v: float) -> float:
    """The largest 1-2-5 number not above ``v``."""
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (5, 2, 1):
        if m * e <= v:
            return m * e
    return e


SCALES = (200, 250, 500, 1000, 2000, 2500, 5000, 10000, 25000)


def plan_drawing(content: dict[str, Any], width: float, height: float) -> Drawing:
    """The plan: parcel, buildings, neighbours with numbers, numbered points, scale, north."""
    reg, bold, _mono = fonts()
    plan = content["plan"]
    pts = {p["n"]: (p["y"], p["x"]) for p in plan["boundary_points"]}  # (east, north)
    rings = [[pts[n] for n in ring] for ring in plan["parcel_rings"]]
    d = Drawing(width, height)
    d.add(Rect(0, 0, width, height, strokeColor=colors.HexColor("#555555"), fillColor=None,
               strokeWidth=0.6))
    if not pts:
        d.add(String(width / 2, height / 2, "no geometry", fontName=reg, fontSize=9,
                     textAnchor="middle"))
        return d
    es = [e for e, _n in pts.values()]
    ns = [n for _e, n in pts.values()]
    cx, cy = (min(es) + max(es)) / 2, (min(ns) + max(ns)) / 2
    span = max(max(es) - min(es), max(ns) - min(ns), 10.0)
    margin = 14.0
    usable_w, usable_h = width - 2 * margin, height - 2 * margin - 10
    # the parcel fills about 55 % of the frame; then round to a standard survey scale
    metres_per_pt = span / (0.55 * min(usable_w, usable_h))
    denom = metres_per_pt / (0.0254 / 72)
    scale = next((s for s in SCALES if s >= denom), int(math.ceil(denom / 1000) * 1000))
    k = 1 / (scale * 0.0254 / 72)  # points per metre
    ox, oy = width / 2, height / 2 + 4

    def tx(e: float, n: float) -> tuple[float, float]:
        return ox + (e - cx) * k, oy + (n - cy) * k

    def poly(coords: list[tuple[float, float]], **kw: Any) -> Polygon:
        flat: list[float] = []
        for e, n in coords:
            flat.extend(tx(e, n))
        return Polygon(flat, **kw)

    # neighbours, clipped to the frame
    from shapely.geometry import Polygon as SPolygon
    from shapely.geometry import box

    quarter = content["parcel"]["cadastral_number"].rsplit(":", 1)[0]
    labels: list[tuple[float, float, str]] = []
    view = box(cx - (ox - 2) / k, cy - (oy - 2) / k, cx + (width - ox - 2) / k,
               cy + (height - oy - 2) / k)
    for nb in plan.get("neighbours", []):
        outline = [(y, x) for x, y in nb["outline"]]
        if len(outline) < 3:
            continue
        clipped = SPolygon(outline).intersection(view)
        parts = getattr(clipped, "geoms", [clipped])
        for part in parts:
            if part.is_empty or part.geom_type != "Polygon":
                continue
            d.add(poly(list(part.exterior.coords)[:-1], strokeColor=colors.HexColor("#8c96a0"),
                       fillColor=colors.HexColor("#f1f3f5"), strokeWidth=0.5,
                       strokeDashArray=[2, 1.5]))
        if not clipped.is_empty and clipped.area > 4:
            # label inside the neighbour, away from the parcel: the point of the clipped
            # neighbour farthest from the parcel's centre line, pulled back inside
            inner = clipped.buffer(-3) if clipped.buffer(-3).area > 1 else clipped
            rp = inner.representative_point()
            mx, my = tx(rp.x, rp.y)
            num = nb["cadastral_number"]
            short = ":" + num.rsplit(":", 1)[1] if num.rsplit(":", 1)[0] == quarter else num
            labels.append((mx, my, short))
    for ring in rings:
        d.add(poly(ring, strokeColor=colors.HexColor("#b42318"), fillColor=colors.HexColor("#fff4e5"),
                   strokeWidth=1.4))
    for b in plan.get("buildings", []):
        outline = [(y, x) for x, y in b["outline"]]
        d.add(poly(outline, strokeColor=colors.HexColor("#1b1f24"),
                   fillColor=colors.HexColor("#c8ced6"), strokeWidth=0.7))
        bx = sum(tx(e, n)[0] for e, n in outline) / len(outline)
        by = sum(tx(e, n)[1] for e, n in outline) / len(outline)
        d.add(String(bx, by - 2, b["cadastral_number"].rsplit(":", 1)[-1], fontName=bold,
                     fontSize=5.5, textAnchor="middle"))
    # numbered points, labels pushed away from the parcel centre
    pcx, pcy = tx(cx, cy)
    for nnum, (e, n) in pts.items():
        x, y = tx(e, n)
        d.add(Circle(x, y, 1.6, fillColor=colors.HexColor("#b42318"), strokeColor=None))
        dx, dy = x - pcx, y - pcy
        L = math.hypot(dx, dy) or 1.0
        d.add(String(x + dx / L * 7, y + dy / L * 7 - 2.5, str(nnum), fontName=bold, fontSize=7,
                     fillColor=colors.HexColor("#b42318"), textAnchor="middle"))
    for mx, my, label in labels:
        w = pdfmetrics.stringWidth(label, reg, 6) + 3
        d.add(Rect(mx - w / 2, my - 3, w, 8, fillColor=colors.white, strokeColor=None,
                   fillOpacity=0.85))
        d.add(String(mx, my - 0.8, label, fontName=reg, fontSize=6,
                     fillColor=colors.HexColor("#36404a"), textAnchor="middle"))
    # legend (top left)
    d.add(String(margin, height - margin - 14, f"Uchastka / Участок {content['parcel']['cadastral_number']}",
                 fontName=bold, fontSize=7.5, fillColor=colors.HexColor("#7a1a12")))
    d.add(String(margin, height - margin - 24, f"Qoʻshnilar / Смежные: {quarter}:…",
                 fontName=reg, fontSize=6.5, fillColor=colors.HexColor("#36404a")))
    # scale bar (bottom left)
    bar_m = _nice(usable_w * 0.25 / k)
    bar = bar_m * k
    x0, y0 = margin, margin - 2
    g = Group()
    for i in range(4):
        g.add(Rect(x0 + i * bar / 4, y0, bar / 4, 3, strokeColor=colors.black, strokeWidth=0.4,
                   fillColor=colors.black if i % 2 == 0 else colors.white))
    g.add(String(x0, y0 + 5, "0", fontName=reg, fontSize=6.5))
    g.add(String(x0 + bar, y0 + 5, f"{bar_m:g} m", fontName=reg, fontSize=6.5, textAnchor="middle"))
    g.add(String(x0 + bar + 14, y0, f"1:{scale}", fontName=bold, fontSize=7.5))
    d.add(g)
    # north arrow (grid north of SK-42 zone 12), top right
    ax, ay = width - margin - 6, height - margin - 22
    d.add(Polygon([ax, ay + 20, ax - 5, ay, ax, ay + 5], fillColor=colors.black,
                  strokeColor=colors.black, strokeWidth=0.5))
    d.add(Polygon([ax, ay + 20, ax + 5, ay, ax, ay + 5], fillColor=colors.white,
                  strokeColor=colors.black, strokeWidth=0.5))
    d.add(String(ax, ay + 23, "N", fontName=bold, fontSize=8, textAnchor="middle"))
    d.add(String(margin, height - margin - 4, "SK-42, GK zone 12 (EPSG:28412)", fontName=reg,
                 fontSize=6.5, fillColor=colors.HexColor("#444444")))
    return d


def render(content: dict[str, Any], signature: dict[str, str], settings: Settings | None = None) -> bytes:
    """The extract PDF, with the canonical JSON and the signature attached."""
    from .signing import canonical

    reg, bold, mono = fonts()
    st = _styles()
    buf = io.BytesIO()
    number = content["extract_number"]
    url = content["verification_url"]
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=14 * mm, bottomMargin=16 * mm,
                            title=f"Kadastr koʻchirmasi {number}",
                            author="Tashkent city cadastre", subject=content["parcel"]["cadastral_number"],
                            creator="cadastre-gis", keywords=f"extract {number}")
    W = A4[0] - 30 * mm
    p = content["parcel"]
    fees = content["fees"]
    req = content["request"]
    story: list[Flowable] = []

    head = Table([[
        [Paragraph("Yer uchastkasi boʻyicha kadastr koʻchirmasi", st["title"]),
         Paragraph("Выписка из государственного кадастра о земельном участке · "
                   "Cadastral extract for a land parcel", st["sub"]),
         Spacer(1, 3),
         Paragraph(f"<b>№ {_esc(number)}</b> &nbsp; · &nbsp; berilgan / выдана / issued "
                   f"<b>{_esc(content['issued_at'])}</b>", st["cell"]),
         Paragraph(f"holatiga / по состоянию на / as of <b>{_esc(content['as_of'])}</b>",
                   st["cell"]),
         Paragraph(_esc(content["issuer"]), st["small"])],
        [QR(url, 30 * mm), Paragraph("Tekshirish / Проверка", st["center"])],
    ]], colWidths=[W - 34 * mm, 34 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("LINEBELOW", (0, 0), (-1, 0), 1.2, colors.HexColor("#0b3d6e"))]))
    story += [head, Spacer(1, 4)]

    story.append(Paragraph("1. Yer uchastkasi / Земельный участок / Parcel", st["h"]))
    district = p.get("district") or {}
    story.append(_kv([
        ("Kadastr raqami / Кадастровый номер", f"<b>{_esc(p['cadastral_number'])}</b>"),
        ("Manzil / Адрес", p.get("address")),
        ("Tuman / Район", f"{_esc(district.get('name'))} ({_esc(district.get('name_ru'))}),"
                          f" kod {_esc(district.get('code'))}"),
        ("Maydoni / Площадь, m²", f"{_num(p.get('area_m2'))} (hisoblangan / вычисленная);"
                                  f" {_num(p.get('declared_area_m2'))} (eʼlon qilingan / декларированная)"),
        ("Yer toifasi / Категория земель",
         f"{_esc(p['land_category'].get('uz'))} / {_esc(p['land_category'].get('ru'))}"),
        ("Ruxsat etilgan foydalanish / Разрешённое использование",
         f"{_esc(p['permitted_use'].get('uz'))} / {_esc(p['permitted_use'].get('ru'))}"),
        ("Kadastr qiymati / Кадастровая стоимость", f"{_num(p.get('cadastral_value_uzs'))} soʻm (UZS)"),
        ("Holati / Статус, versiya", f"{_esc(p.get('status'))}, v{_esc(p.get('version'))}"
                                     f" (since {_esc(p.get('registered_version_since'))})"
                                     + (f"; bekor qilingan / снят с учёта {_esc(p['retired_at'])}"
                                        if p.get("retired_at") else "")),
    ], st, W))

    story.append(Paragraph("2. Mulkdorlar va ulushlar / Правообладатели и доли / Owners", st["h"]))
    rows: list[list[Any]] = [["#", "F.I.Sh. / Наименование", "Identifikator / ИД", "Ulush / Доля",
                              "Sana / С даты", "Hujjat / Документ"]]
    for i, o in enumerate(content["owners"], 1):
        ident = o.get("identifier") or {}
        docu = o.get("document") or {}
        rows.append([str(i), o.get("name"), f"{_esc(ident.get('type'))} {_esc(ident.get('value'))}",
                     f"<b>{_esc(o.get('share'))}</b>", o.get("starts_on"),
                     f"{_esc(docu.get('kind'))} {_esc(docu.get('number'))} {_esc(docu.get('issued_on'))}"])
    rows.append(["", "<b>Jami / Итого</b>", "", f"<b>{_esc(content['shares_total'])}</b>", "", ""])
    story.append(_table(rows, [W * f for f in (0.05, 0.31, 0.2, 0.09, 0.12, 0.23)], st))

    story.append(Paragraph("3. Cheklovlar va yuklamalar (ipoteka, ijara, servitut, taqiq/xatlov) / "
                           "Обременения (ипотека, аренда, сервитут, арест/запрет)", st["h"]))
    if content["encumbrances"]:
        rows = [["Turi / Вид", "Obyekt / Объект", "Ega / Правообладатель", "Raqam / №",
                 "Summa, UZS", "Muddati / Срок", "Hujjat / Документ"]]
        kind_names = {"mortgage": "Ipoteka / Ипотека", "arrest": "Xatlov, taqiq / Арест, запрет",
                      "lease": "Ijara / Аренда", "servitude": "Servitut / Сервитут",
                      "permanent_use": "Doimiy foydalanish / Постоянное пользование"}
        for e in content["encumbrances"]:
            docu = e.get("document") or {}
            rows.append([f"<b>{_esc(kind_names.get(e['kind'], e['kind']))}</b>", e.get("object"),
                         e.get("holder"), e.get("registration_number"), _num(e.get("amount_uzs")),
                         f"{_esc(e.get('starts_on'))} – {_esc(e.get('ends_on'))}",
                         f"{_esc(docu.get('kind'))} {_esc(docu.get('number'))} {_esc(docu.get('issued_on'))}"])
        story.append(_table(rows, [W * f for f in (0.15, 0.17, 0.19, 0.1, 0.11, 0.13, 0.15)], st))
    else:
        story.append(Paragraph("Yoʻq / Не зарегистрированы / None registered", st["cell"]))

    story.append(Paragraph("4. Binolar / Здания и сооружения / Buildings", st["h"]))
    if content["buildings"]:
        rows = [["Kadastr raqami / Кадастровый номер", "Turi / Назначение", "Qavat / Этажи",
                 "Yil / Год", "Maydon / Площадь, m²", "Mulkdorlar / Собственники"]]
        for b in content["buildings"]:
            owners = ", ".join(f"{_esc(o.get('name'))} ({_esc(o.get('share'))})" for o in b["owners"])
            rows.append([b["cadastral_number"], b.get("use"), b.get("floors"), b.get("year_built"),
                         f"{_num(b.get('floor_area_m2'))} (osti / застройка {_num(b.get('footprint_m2'))})",
                         owners or "—"])
        story.append(_table(rows, [W * f for f in (0.22, 0.12, 0.08, 0.07, 0.21, 0.30)], st))
    else:
        story.append(Paragraph("Yoʻq / Нет / None", st["cell"]))

    story.append(Paragraph("5. Oldingi raqamlar (kelib chiqishi) / Прежние номера / Lineage", st["h"]))
    lin = content["lineage"]
    if lin["previous_numbers"] or lin["successor_numbers"]:
        rows = [["Raqam / Номер", "Hodisa / Событие", "Sana / Дата", "Avlod / Поколение"]]
        for x in lin["previous_numbers"]:
            rows.append([x["cadastral_number"], x["event"], x["date"], f"-{x['generation']}"])
        for x in lin["successor_numbers"]:
            rows.append([x["cadastral_number"], f"{x['event']} → (successor)", x["date"], "+1"])
        story.append(_table(rows, [W * f for f in (0.34, 0.28, 0.2, 0.18)], st))
    else:
        story.append(Paragraph("Boshlangʻich roʻyxatdan oʻtkazish / Первичная регистрация / "
                               "Original registration (no previous numbers)", st["cell"]))

    story.append(Paragraph("6. Soʻrov va yigʻimlar / Запрос и сборы / Request and fees", st["h"]))
    rb = req.get("requested_by") or {}
    story.append(_kv([
        ("Soʻrovchi / Запросил", f"{_esc(rb.get('full_name'))} ({_esc(rb.get('username'))},"
                                 f" {_esc(rb.get('role'))})"),
        ("Notarial ish raqami / № нотариального дела", req.get("case_number")),
        ("Maqsad / Цель", req.get("purpose")),
        ("Davlat boji / Госпошлина", f"{_num(fees.get('state_duty'))} {fees.get('currency')}"),
        ("Xizmat haqi / Сервисный сбор", f"{_num(fees.get('service_fee'))} {fees.get('currency')}"),
        ("Jami / Итого", f"<b>{_num(fees.get('total'))} {fees.get('currency')}</b>"),
    ], st, W))

    # ---- plan + coordinates ------------------------------------------------------------
    story.append(PageBreak())
    story.append(Paragraph(f"7. Yer uchastkasi rejasi / План земельного участка / Plan — "
                           f"{_esc(p['cadastral_number'])}", st["h"]))
    story.append(plan_drawing(content, W, 130 * mm))
    story.append(Paragraph("Qizil: uchastka chegarasi va burilish nuqtalari; kulrang: binolar; "
                           "shtrix: qoʻshni uchastkalar. / Красным — граница и поворотные точки; "
                           "серым — здания; пунктиром — смежные участки.", st["small"]))
    story.append(Paragraph("8. Burilish nuqtalari koordinatalari / Координаты поворотных точек",
                           st["h"]))
    rows = [["№", "X (SK-42), m", "Y (SK-42), m", "Kenglik / Широта (WGS 84)",
             "Uzunlik / Долгота (WGS 84)", "Tomon / Длина, m"]]
    bp = content["plan"]["boundary_points"]
    by_n = {q["n"]: q for q in bp}
    nxt: dict[int, int] = {}
    for ring in content["plan"]["parcel_rings"]:
        for i, n in enumerate(ring):
            nxt[n] = ring[(i + 1) % len(ring)]
    for q in bp:
        other = by_n.get(nxt.get(q["n"], q["n"]), q)
        side = math.hypot(other["x"] - q["x"], other["y"] - q["y"])
        rows.append([str(q["n"]), f"{q['x']:.2f}", f"{q['y']:.2f}", f"{q['lat']:.7f}°",
                     f"{q['lon']:.7f}°", f"{q['n']}–{other['n']}: {side:.2f}"])
    story.append(_table(rows, [W * f for f in (0.06, 0.17, 0.17, 0.2, 0.2, 0.2)], st))

    story.append(CondPageBreak(48 * mm))
    story.append(Paragraph("9. Elektron imzo / Электронная подпись / Signature", st["h"]))
    story.append(KeepTogether([_kv([
        ("Algoritm / Алгоритм", f"{_esc(signature.get('alg'))} over canonical JSON (sorted keys,"
                                " no whitespace, UTF-8), attached to this PDF as " + CONTENT_NAME),
        ("Kalit / Ключ (key id)", f"<font name='{mono}' size='7'>{_esc(signature.get('key_id'))}</font>"),
        ("SHA-256", f"<font name='{mono}' size='7'>{_esc(signature.get('sha256'))}</font>"),
        ("Imzo / Подпись", f"<font name='{mono}' size='6.3'>{_esc(signature.get('value'))}</font>"),
        ("Tekshirish / Проверка", f"{_esc(url)} · POST /extracts/verify"),
    ], st, W)]))

    def _footer(canvas: Any, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(reg, 6.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(15 * mm, 9 * mm, f"{number} · {p['cadastral_number']} · {url}")
        canvas.drawRightString(A4[0] - 15 * mm, 9 * mm, f"{canvas.getPageNumber()}")
        canvas.restoreState()

    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return attach(buf.getvalue(), canonical(content), signature)


def attach(pdf: bytes, content: bytes, signature: dict[str, str]) -> bytes:
    """Embed the canonical JSON and the signature as PDF file attachments."""
    from pypdf import PdfWriter

    # incremental update: the reportlab bytes stay untouched, the attachments are appended
    writer = PdfWriter(io.BytesIO(pdf), incremental=True)
    writer.add_attachment(CONTENT_NAME, content)
    writer.add_attachment(SIGNATURE_NAME, json.dumps(signature, sort_keys=True).encode())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def embedded(pdf: bytes) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The signed content and signature attached to an extract PDF, or None."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        att = PdfReader(io.BytesIO(pdf)).attachments
        content = json.loads(att[CONTENT_NAME][0])
        signature = json.loads(att[SIGNATURE_NAME][0])
    except (PdfReadError, KeyError, IndexError, ValueError, TypeError):
        return None
    except Exception:  # noqa: BLE001 - any unreadable upload is simply "not an extract"
        return None
    if not isinstance(content, dict) or not isinstance(signature, dict):
        return None
    return content, signature
