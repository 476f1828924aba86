"""One self-contained HTML page: tables, inline SVG figures, a few lines of sorting JS, no external requests.

Why self-contained: reports are attached to issues, mailed and opened from CI artifacts, often offline; a
page that needs a CDN renders as unstyled text there. Layout rules: tables scroll sideways on a phone
instead of squeezing, figures scale to the width, and print drops the interactive bits and keeps "best"
visible without colour (bold + underline).
"""

from __future__ import annotations

import html
import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .plots import Figure
from .table import ReportTable

CSS = """
:root{--fg:#1b1b1b;--muted:#6b6b6b;--line:#dcdcdc;--head:#f2f4f7;--best:#fff1b8;--ref:#f5f8fc;--ours:#f3faf3}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0 auto;max-width:1280px;padding:1rem 1.25rem}
h1{font-size:1.5rem;margin:.2rem 0 .4rem}h2{font-size:1.3rem;margin:2rem 0 .4rem;border-bottom:2px solid var(--line)}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}.intro{max-width:75rem;margin:.3rem 0 .6rem}
details>summary{cursor:pointer;margin:1rem 0;font-weight:600}
.meta,.note{color:var(--muted);font-size:.85rem;margin:.35rem 0}
nav ul{display:flex;flex-wrap:wrap;gap:.3rem 1rem;padding:0;margin:.5rem 0;list-style:none;font-size:.9rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%;border:1px solid var(--line);border-radius:4px}
table{border-collapse:collapse;font-size:.85rem;font-variant-numeric:tabular-nums;width:max-content;min-width:100%}
th,td{padding:.3rem .55rem;border-bottom:1px solid var(--line);white-space:nowrap;text-align:left;vertical-align:top}
th{background:var(--head);position:sticky;top:0;cursor:pointer;user-select:none;font-weight:600}
th:focus{outline:2px solid #4a7bd0;outline-offset:-2px}
.num{text-align:right}
input.filter{font:inherit;font-size:.85rem;margin:0 0 .35rem;padding:.2rem .4rem;width:16rem;border:1px solid var(--line);border-radius:4px}
@media print{input.filter{display:none}}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:.7em}
th[aria-sort=descending]::after{content:" \\25BC";font-size:.7em}
td.best{font-weight:700;background:var(--best)}
tr.incomplete td{color:var(--muted);font-style:italic}
tr.reference td{background:var(--ref)}
tr.ours td,tr.pareto td{background:var(--ours)}
tr.group td{border-top:1px solid #9a9a9a}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:.85rem}
@media (max-width:640px){
 body{font-size:14px;padding:.5rem .6rem}
 h1{font-size:1.2rem}
 table{font-size:.75rem}
 th,td{padding:.25rem .35rem}
}
@media print{
 @page{size:A4 landscape;margin:10mm}
 body{max-width:none;padding:0;font-size:9pt}
 nav{display:none}
 .scroll{overflow:visible;border:0}
 table{font-size:7.5pt;width:auto;min-width:0}
 th,td{white-space:normal;padding:.15rem .3rem}
 th{position:static;cursor:auto}
 th::after{content:""!important}
 td.best{background:none;text-decoration:underline}
 tr.reference td,tr.ours td,tr.pareto td{background:none}
 section,figure{break-inside:avoid}
 a{color:inherit;text-decoration:none}
}
"""

# Click a header to sort (numbers by data-v; missing values stay last); #sort=<table id>:<col>:<asc|desc>
# in the URL applies a sort on load, so a sorted view can be linked. A table of FILTER_FROM rows or more (and every
# leaderboard) has a filter box: rows whose text does not contain what is typed are hidden (a model, a mode, a
# protocol); #filter=<table id>:<text> in the URL fills it on load.
JS = """
(function(){
 function key(td){var v=td.getAttribute('data-v');return v===null||v===''?null:parseFloat(v);}
 function sortTable(t,col,dir){
  var tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows);
  rows.sort(function(a,b){
   var x=a.cells[col],y=b.cells[col],kx=key(x),ky=key(y);
   if(kx!==null&&ky!==null)return dir*(kx-ky);
   if(kx!==null)return -1;if(ky!==null)return 1;
   return dir*x.textContent.localeCompare(y.textContent);
  });
  rows.forEach(function(r){tb.appendChild(r);});
  Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
   th.setAttribute('aria-sort',i===col?(dir>0?'ascending':'descending'):'none');});
  t.setAttribute('data-sorted',col+':'+(dir>0?'asc':'desc'));
 }
 document.querySelectorAll('table.sortable').forEach(function(t){
  Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
   th.tabIndex=0;
   function go(){var s=th.getAttribute('aria-sort');
    var dir=s==='ascending'?-1:s==='descending'?1:(th.classList.contains('num')?-1:1);sortTable(t,i,dir);}
   th.addEventListener('click',go);
   th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();go();}});
  });
  t.setAttribute('data-ready','1');
 });
 document.querySelectorAll('input.filter').forEach(function(inp){
  var t=document.getElementById(inp.getAttribute('data-for'));
  inp.addEventListener('input',function(){var q=inp.value.toLowerCase();
   Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
    r.style.display=!q||r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});
 });
 var f=/^#filter=([\\w-]+):(.*)$/.exec(decodeURIComponent(location.hash));
 if(f){var box=document.querySelector('input.filter[data-for="'+f[1]+'"]');
  if(box){box.value=f[2];box.dispatchEvent(new Event('input'));}}
 var m=/^#sort=([\\w-]+):(\\d+):(asc|desc)$/.exec(decodeURIComponent(location.hash));
 if(m){var t=document.getElementById(m[1]);if(t)sortTable(t,+m[2],m[3]==='asc'?1:-1);}
})();
"""


FILTER_FROM = 8  # rows from which a table gets a filter box


def table_id(key: str) -> str:
    """HTML id of a report table (what #sort= and tests refer to)."""
    return "t-" + re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")


def table_html(t: ReportTable) -> str:
    cols = list(t.text.columns)
    num = ' class="num"'
    head = "".join(
        f'<th scope="col"{num if c in t.numeric else ""} aria-sort="none">{html.escape(str(c))}</th>' for c in cols
    )
    body = []
    for i in range(len(t.text)):
        cells = []
        for j, c in enumerate(cols):
            cls = [k for k, on in (("num", c in t.numeric), ("best", bool(t.best.iat[i, j]))) if on]
            v = t.sort.iat[i, j]
            dv = "" if v is None or (isinstance(v, float) and math.isnan(v)) else f' data-v="{float(v):.10g}"'
            ca = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{ca}{dv}>{html.escape(str(t.text.iat[i, j]))}</td>")
        rc = t.row_class[i] if i < len(t.row_class) else ""
        rca = f' class="{rc}"' if rc else ""
        body.append(f"<tr{rca}>{''.join(cells)}</tr>")
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in t.notes)
    tid = table_id(t.key)
    search = (
        f'<input type="search" class="filter" data-for="{tid}" placeholder="filter rows" aria-label="filter rows">'
        if t.filterable or len(t.text) >= FILTER_FROM
        else ""
    )
    return (
        f'<section id="{html.escape(t.key)}"><h3>{html.escape(t.title)}</h3>{search}'
        f'<div class="scroll"><table class="sortable" id="{tid}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{notes}</section>"
    )


def _inline(text: str) -> str:
    """Escape, then turn Markdown `code` spans into <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def figure_html(f: Figure) -> str:
    return (
        f'<figure id="fig-{html.escape(f.key)}">{f.svg_text()}<figcaption>{html.escape(f.title)}</figcaption></figure>'
    )


def _sid(section: str) -> str:
    return "s-" + re.sub(r"[^A-Za-z0-9]+", "-", section).strip("-").lower()


def render_html(
    title: str,
    tables: Sequence[ReportTable],
    figures: Sequence[Figure],
    source: str = "",
    n_files: int = 0,
    intros: dict[str, str] | None = None,
) -> str:
    """The whole page as one string: a heading per section (nav links to sections), its tables, folded
    tables in one <details>, figures after the table named in their `after`."""
    intros = intros or {}
    sections = list(dict.fromkeys(t.section for t in tables if t.section))
    if sections:
        nav = "".join(f'<li><a href="#{_sid(s)}">{html.escape(s)}</a></li>' for s in sections)
    else:
        nav = "".join(f'<li><a href="#{html.escape(t.key)}">{html.escape(t.title)}</a></li>' for t in tables)
    parts: list[str] = []
    section, folded = None, False
    for i, t in enumerate(tables):
        if t.section != section:
            if folded:
                parts.append("</details>")
                folded = False
            section = t.section
            if section:
                parts.append(f'<h2 class="section" id="{_sid(section)}">{html.escape(section)}</h2>')
                if section in intros:
                    parts.append(f'<p class="intro">{_inline(intros[section])}</p>')
        if t.collapsed and not folded:
            n = sum(1 for u in tables[i:] if u.section == section and u.collapsed)
            parts.append(f"<details><summary>{n} more in this section</summary>")
            folded = True
        parts.append(table_html(t))
        parts += [figure_html(f) for f in figures if f.after == t.key]
    if folded:
        parts.append("</details>")
    placed = {t.key for t in tables}
    parts += [figure_html(f) for f in figures if f.after not in placed]
    meta = f"Results: {html.escape(source)}" + (f" — {n_files} result files" if n_files else "")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{html.escape(title)}</h1><p class="meta">{meta}. Click a column header to sort.</p>'
        f"<nav><ul>{nav}</ul></nav></header><main>{''.join(parts)}</main>"
        f"<script>{JS}</script></body></html>\n"
    )


# ------------------------------------------------------------------------------ headless Chromium

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary (Debian's package is `chromium`), or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Rendered:
    """What headless Chromium saw: the DOM after scripts ran, and console messages (errors included)."""

    dom: str
    console: list[str] = field(default_factory=list)
    stderr: str = ""
    screenshot: Path | None = None


def _console_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]


def render_in_chromium(
    page: Path,
    screenshot: Path | None = None,
    window: tuple[int, int] = (1200, 1600),
    fragment: str = "",
    timeout: float = 90.0,
    binary: str | None = None,
) -> Rendered:
    """Load `page` headless: `--dump-dom` for the scripted DOM, then optionally `--screenshot`.

    Console output is read from Chromium's stderr log (page messages carry ":CONSOLE"; script errors say
    "Uncaught"), which is how a test proves the page loads cleanly without a driver library.
    """
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary on PATH (Debian: apt-get install -y chromium)")
    url = Path(page).resolve().as_uri() + fragment
    logs, dom = [], ""
    with tempfile.TemporaryDirectory(prefix="leafbench-chromium-") as profile:
        base = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}"]
        r = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"chromium --dump-dom exited {r.returncode}: {r.stderr[-2000:]}")
        dom, logs = r.stdout, [r.stderr]
        if screenshot is not None:
            screenshot = Path(screenshot).resolve()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            s = subprocess.run(
                [*base, "--hide-scrollbars", f"--screenshot={screenshot}", url],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            logs.append(s.stderr)
            if s.returncode != 0 or not screenshot.exists():
                raise RuntimeError(f"chromium --screenshot exited {s.returncode}: {s.stderr[-2000:]}")
    err = "\n".join(logs)
    return Rendered(dom=dom, console=_console_lines(err), stderr=err, screenshot=screenshot)
