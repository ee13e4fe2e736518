"""PDFs of the citizen portal (reportlab): the cadastral passport and the payment receipt."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

# A Unicode font for Uzbek (oʻ, gʻ) and Russian; Bitstream Vera (shipped with reportlab)
# when DejaVu is not installed — it lacks Cyrillic, so DejaVu is preferred.
_FONT_DIRS = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
              "/usr/local/share/fonts"]


def _fonts() -> tuple[str, str]:
    if "PortalSans" in pdfmetrics.getRegisteredFontNames():
        return "PortalSans", "PortalSans-Bold"
    for d in _FONT_DIRS:
        reg, bold = Path(d) / "DejaVuSans.ttf", Path(d) / "DejaVuSans-Bold.ttf"
        if reg.exists() and bold.exists():
            break
    else:
        import reportlab

        base = Path(reportlab.__file__).parent / "fonts"
        reg, bold = base / "Vera.ttf", base / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont("PortalSans", str(reg)))
    pdfmetrics.registerFont(TTFont("PortalSans-Bold", str(bold)))
    return "PortalSans", "PortalSans-Bold"


def money(v: Any) -> str:
    """1 234 567 UZS."""
    if v is None:
        return "—"
    return f"{Decimal(v):,.0f}".replace(",", " ") + " " + _("UZS")


def area(v: Any) -> str:
    """1 234.5 m²."""
    if v is None:
        return "—"
    return f"{Decimal(v):,.1f}".replace(",", " ") + " " + _("m²")


# Codes shown in PDFs; the msgids are extracted from web/my.py and the portal template.
_WORDS = {"ownership": "ownership", "lease": "lease", "permanent_use": "permanent use",
          "servitude": "servitude", "mortgage": "mortgage", "arrest": "arrest (ban)",
          "residential": "residential", "apartment": "apartment building",
          "commercial": "commercial", "office": "office", "industrial": "industrial",
          "public": "public", "garage": "garage", "religious": "religious", "other": "other"}


def word(code: str | None) -> str:
    """The translated name of a right kind or building use code."""
    return _(_WORDS[code]) if code in _WORDS else (code or "—")


def share(num: int | None, den: int | None) -> str:
    """1/2, or — when the right has no share."""
    return f"{num}/{den}" if num and den else "—"


class _Page:
    """A tiny flowing-text helper over a reportlab canvas."""

    def __init__(self, title: str) -> None:
        self.buf = io.BytesIO()
        self.c = Canvas(self.buf, pagesize=A4, pageCompression=1)
        self.c.setTitle(title)
        self.c.setAuthor("Tashkent city cadastre")
        self.font, self.bold = _fonts()
        self.w, self.h = A4
        self.y = self.h - 20 * mm

    def line(self, text: str, size: float = 10, bold: bool = False, gap: float = 1.45) -> None:
        if self.y < 20 * mm:
            self.c.showPage()
            self.y = self.h - 20 * mm
        self.c.setFont(self.bold if bold else self.font, size)
        self.c.drawString(18 * mm, self.y, text)
        self.y -= size * gap

    def pair(self, label: str, value: str, width: float = 85 * mm) -> None:
        from reportlab.lib.utils import simpleSplit

        if self.y < 20 * mm:
            self.c.showPage()
            self.y = self.h - 20 * mm
        self.c.setFont(self.font, 10)
        self.c.setFillGray(0.35)
        self.c.drawString(18 * mm, self.y, label)
        self.c.setFillGray(0)
        for k, part in enumerate(simpleSplit(value, self.font, 10, width) or [""]):
            if k:
                self.y -= 12.5
            self.c.drawString(70 * mm, self.y, part)
        self.y -= 14.5

    def space(self, pts: float = 8) -> None:
        self.y -= pts

    def qr(self, data: str, x: float, y: float, size: float = 28 * mm) -> None:
        w = QrCodeWidget(data)
        b = w.getBounds()
        d = Drawing(size, size, transform=[size / (b[2] - b[0]), 0, 0, size / (b[3] - b[1]), 0, 0])
        d.add(w)
        renderPDF.draw(d, self.c, x, y)

    def finish(self) -> bytes:
        self.c.setFont(self.font, 8)
        self.c.setFillGray(0.4)
        self.c.drawString(18 * mm, 10 * mm, _("Issued %(when)s UTC by the Tashkent cadastre portal",
                                               when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M")))
        self.c.showPage()
        self.c.save()
        return self.buf.getvalue()


def _plan(p: _Page, geom: dict[str, Any], x: float, y: float, size: float) -> None:
    """Draw the parcel outline (EPSG:32642 metres) scaled into a square box, with its size."""
    rings = [ring for poly in geom.get("coordinates", []) for ring in poly]
    pts = [pt for ring in rings for pt in ring]
    if not pts:
        return
    minx, maxx = min(q[0] for q in pts), max(q[0] for q in pts)
    miny, maxy = min(q[1] for q in pts), max(q[1] for q in pts)
    span = max(maxx - minx, maxy - miny, 1.0)
    k = (size - 10) / span
    c = p.c
    c.setStrokeGray(0.6)
    c.rect(x, y, size, size)
    c.setStrokeColorRGB(0.7, 0.15, 0.1)
    c.setLineWidth(1.5)
    for ring in rings:
        path = c.beginPath()
        for i, (qx, qy) in enumerate(ring):
            px, py = x + 5 + (qx - minx) * k, y + 5 + (qy - miny) * k
            if i == 0:
                path.moveTo(px, py)
            else:
                path.lineTo(px, py)
        path.close()
        c.drawPath(path, stroke=1, fill=0)
    c.setLineWidth(1)
    c.setFont(p.font, 7)
    c.setFillGray(0.3)
    c.drawString(x, y - 9, _("Plan, EPSG:32642; box side %(m)s m", m=f"{span:.1f}"))
    c.setFillGray(0)


def passport_pdf(item: dict[str, Any], geom: dict[str, Any] | None, account: dict[str, Any],
                 base_url: str, holder: str | None = None) -> bytes:
    """Cadastral passport of one parcel: public data plus the holder's own rights."""
    p = _Page(_("Cadastral passport %(n)s", n=item["cadastral_number"]))
    p.line(_("Cadastral passport of a land parcel"), 16, bold=True, gap=1.6)
    p.line(item["cadastral_number"], 14, bold=True, gap=1.8)
    p.qr(f"{base_url}/?parcel={item['cadastral_number']}", p.w - 48 * mm, p.h - 50 * mm)
    p.pair(_("Address"), item.get("address") or "—")
    p.pair(_("District"), item.get("district") or "—")
    p.pair(_("Area"), area(item.get("area_m2")))
    p.pair(_("Land category"), item.get("land_category_name") or item.get("land_category") or "—")
    p.pair(_("Permitted use"), item.get("permitted_use_name") or item.get("permitted_use") or "—")
    p.pair(_("Cadastral value"), money(item.get("cadastral_value")))
    if geom:
        p.space(6)
        _plan(p, geom, 18 * mm, p.y - 55 * mm, 55 * mm)
        p.y -= 66 * mm
    p.space(4)
    p.line(_("Buildings"), 12, bold=True)
    if not item["buildings"]:
        p.line(_("No buildings registered."))
    for b in item["buildings"]:
        p.line(f"{b['cadastral_number']} · {word(b['building_use'])} · {_('floors')}: "
               f"{b['floors'] or '—'} · {area(b['floor_area_m2'])} · {money(b['cadastral_value'])}", 9)
    p.space(6)
    p.line(_("Your rights"), 12, bold=True)
    holder = holder or account.get("full_name") or account.get("username")
    p.line(_("Holder: %(name)s (PINFL %(pinfl)s)", name=holder, pinfl=account.get("pinfl") or "—"), 9)
    for r in item["rights"]:
        p.line(f"{r['object_number']} · {word(r['kind'])} · {_('share')} "
               f"{share(r['share_num'], r['share_den'])} · {_('since')} {r['starts_on'] or '—'}", 9)
    if item["co_owners"]:
        p.line(_("Other co-owners: %(n)s", n=item["co_owners"]), 9)
    p.space(6)
    p.line(_("Encumbrances"), 12, bold=True)
    if not item["encumbrances"]:
        p.line(_("None registered."))
    for e in item["encumbrances"]:
        p.line(f"{word(e['kind'])} · {e['holder'] or '—'} · {e['registration_number'] or '—'} · "
               f"{_('since')} {e['starts_on'] or '—'}"
               + (f" · {money(e['amount_uzs'])}" if e["amount_uzs"] else ""), 9)
    p.space(10)
    p.line(_("This passport is for information; a notarised extract is issued by the registry."), 8)
    return p.finish()


def receipt_pdf(pay: dict[str, Any], payer: str, payee: Any = None, qr: str | None = None) -> bytes:
    """Receipt of one successful tax payment, with its payee and a QR code (``qr`` text)."""
    p = _Page(_("Receipt %(n)s", n=pay["receipt_number"]))
    p.line(_("Payment receipt"), 16, bold=True, gap=1.6)
    p.line(pay["receipt_number"], 14, bold=True, gap=1.8)
    kind = _("Property tax") if pay["kind"] == "property" else _("Land tax")
    p.pair(_("Tax"), f"{kind} {pay['year']}")
    p.pair(_("Object"), pay["cadastral_number"])
    p.pair(_("Payer"), payer)
    if payee is not None:
        p.pair(_("Payee"), payee.name)
        p.pair(_("Payee INN"), payee.inn)
        p.pair(_("Bank, MFO"), f"{payee.bank}, {payee.mfo}")
        p.pair(_("Account"), payee.account)
    p.pair(_("Amount paid"), money(pay["amount"]))
    p.pair(_("Assessed"), money(pay["assessed"]))
    p.pair(_("Paid at"), pay["completed_at"].strftime("%Y-%m-%d %H:%M UTC")
           if pay.get("completed_at") else "—")
    p.pair(_("Provider"), f"{pay['provider']} · {pay['provider_reference'] or '—'}")
    p.pair(_("Card"), f"**** {pay['card_last4']}" if pay.get("card_last4") else "—")
    p.pair(_("Status"), pay["status"])
    p.space(10)
    if qr:
        p.qr(qr, p.w - 48 * mm, p.h - 50 * mm)
    if pay["provider"] == "sandbox":
        p.line(_("Sandbox payments move no money."), 8)
    return p.finish()
