"""The dig's reports: a map picture (PNG, Pillow), an HTML page and a PDF (fpdf2), each
listing the conflicts with what a DT-DICT answer gives an excavator: network, operator,
depth, diameter, material, location class, band, distance and whether complementary
investigations are needed."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import shapely

#: network colours of the pictures (the viewer's, tiles.style)
COLOURS = {
    "water": (13, 89, 242),
    "wastewater": (128, 82, 36),
    "stormwater": (26, 153, 153),
    "gas": (230, 190, 0),
    "district_heating": (148, 56, 191),
    "electricity": (230, 26, 26),
    "telecom": (26, 166, 51),
    "lighting": (255, 140, 0),
}
SIZE = 640
COLUMNS = (
    ("source_id", "Id"),
    ("network", "Network"),
    ("operator", "Operator"),
    ("depth_m", "Depth m"),
    ("diameter_mm", "DN mm"),
    ("material", "Material"),
    ("location_class", "Class"),
    ("band_m", "Band m"),
    ("distance_m", "Gap m"),
    ("investigations", "Investigate"),
)


def map_png(dig: Any, hits: list[tuple[str, Any]], context: list[tuple[str, Any]]) -> bytes:
    """A plan of the dig (red), the networks around it (thin) and the conflicts (thick
    lines, dots for nodes); ``hits`` and ``context`` are (network, working-CRS geometry)."""
    from PIL import Image, ImageDraw

    minx, miny, maxx, maxy = dig.bounds
    pad = max(maxx - minx, maxy - miny) * 0.6 + 5.0
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    scale = (SIZE - 20) / max(maxx - minx, maxy - miny)

    def px(coords: Any) -> list[tuple[float, float]]:
        return [(10 + (c[0] - minx) * scale, SIZE - 10 - (c[1] - miny) * scale) for c in coords]

    img = Image.new("RGB", (SIZE, SIZE), (245, 245, 240))
    draw = ImageDraw.Draw(img, "RGBA")
    for part in shapely.get_parts(dig):
        draw.polygon(px(part.exterior.coords), fill=(220, 40, 40, 70), outline=(200, 0, 0))
    for network, geom in context:
        for part in shapely.get_parts(geom):
            if part.geom_type == "LineString":
                colour = (*COLOURS.get(network, (90, 90, 90)), 110)
                draw.line(px(part.coords), fill=colour, width=2)
    for network, geom in hits:
        colour = (*COLOURS.get(network, (0, 0, 0)), 255)
        for part in shapely.get_parts(geom):
            if part.geom_type == "Point":
                x, y = px(part.coords)[0]
                draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=colour, outline=(0, 0, 0))
            else:
                draw.line(px(part.coords), fill=colour, width=6)
    draw.text((12, 12), f"{len(hits)} conflict(s)", fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def html_report(doc: dict[str, Any], png: bytes) -> bytes:
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(c.get(k)))}</td>" for k, _ in COLUMNS) + "</tr>"
        for c in doc["conflicts"]
    )
    head = "".join(f"<th>{html.escape(t)}</th>" for _, t in COLUMNS)
    warn = (
        f"<p class='warn'>{doc['investigations_needed']} sensitive network(s) in class B or C: "
        "complementary investigations (locating them on site) are needed before work.</p>"
        if doc["investigations_needed"]
        else ""
    )
    picture = base64.b64encode(png).decode()
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Dig report</title><style>body{{font-family:sans-serif;margin:2em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .5em}}
.warn{{color:#a00;font-weight:bold}}</style></head><body>
<h1>Dig report</h1>
<p>Dig of {doc["area_m2"]} m² down to {doc["depth_m"]} m (EPSG:{doc["epsg"]}).
{doc["count"]} network element(s) within their uncertainty band.</p>{warn}
<p>Rule: {html.escape(doc["rule"])}.</p>
<img alt="map of the dig and the networks" src="data:image/png;base64,{picture}">
<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>
<p>Synthetic rows are generated, not surveyed: never dig on them.</p></body></html>"""
    return page.encode()


def pdf_report(doc: dict[str, Any], png: bytes) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="L", format="A4")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, "Dig report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(
        0,
        5,
        _latin(
            f"Dig of {doc['area_m2']} m2 down to {doc['depth_m']} m (EPSG:{doc['epsg']}): "
            f"{doc['count']} network element(s) within their uncertainty band; "
            f"{doc['investigations_needed']} need complementary investigations. "
            f"Rule: {doc['rule']}."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.image(io.BytesIO(png), w=70)
    pdf.ln(2)
    widths = (52, 26, 34, 16, 16, 36, 12, 16, 16, 22)
    pdf.set_font("Helvetica", "B", 8)
    for (_, title), w in zip(COLUMNS, widths, strict=True):
        pdf.cell(w, 6, title, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", size=8)
    for c in doc["conflicts"]:
        for (key, _), w in zip(COLUMNS, widths, strict=True):
            pdf.cell(w, 5, _latin(_cell(c.get(key)))[: int(w / 1.6)], border=1)
        pdf.ln()
    return bytes(pdf.output())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _latin(s: str) -> str:
    """The PDF's core font is Latin-1: other characters become '?'."""
    return s.replace("²", "2").replace("—", "-").encode("latin-1", "replace").decode("latin-1")
