"""The report as one HTML page (``report.html`` beside ``tables/`` and ``figures/``).

One section per experiment: its leaderboard (model cards, capability flags, a column per target
on every model and the score), the verdicts of its targets, and its figures (parity plots,
learning curves, the leaderboard plot and the figures of the probes that evaluated its models);
then the suite's verdicts and the provenance. Figures are linked by relative path, so the page
opens from the results folder in any browser, offline; every value is escaped.

Element ids a test (or a user's script) can rely on: ``experiment-<name>`` per section,
``leaderboard-<name>`` per table (one ``tr`` per model, ``data-model`` = its label), and
``figure-<file stem>`` per figure; once loaded, every image carries ``data-loaded`` (true or
false, with a note under a missing one) and the body ``data-ready="true"``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from efa.report.targets import Verdict

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 110rem; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.4rem; text-align: left; }
th { background: #f2f2f2; position: sticky; top: 0; }
.met { color: #17692f; } .failed { color: #b00020; font-weight: 600; } .na { color: #777; }
.scroll { overflow-x: auto; }
figure { display: inline-block; margin: 0.5rem; vertical-align: top; }
figure img { max-width: 46rem; border: 1px solid #ddd; }
pre { background: #f7f7f7; padding: 0.6rem; overflow-x: auto; font-size: 0.75rem; }
"""

#: Marks each figure loaded or not (``data-loaded``) once the page has loaded, writes a note
#: under a figure whose file is missing, and sets ``data-ready`` on the body.
_SCRIPT = """
window.addEventListener("load", function () {
  for (const image of document.images) {
    const loaded = image.complete && image.naturalWidth > 0;
    image.dataset.loaded = String(loaded);
    if (!loaded) {
      const note = document.createElement("p");
      note.className = "failed";
      note.textContent = "figure missing: " + image.getAttribute("src");
      image.after(note);
    }
  }
  document.body.dataset.ready = "true";
});
"""


def _escape(value: object) -> str:
    if isinstance(value, float):
        return html.escape(f"{value:.3g}")
    return html.escape(str(value))


def _status_class(text: str) -> str:
    if text.startswith("met"):
        return "met"
    if text.startswith("NOT"):
        return "failed"
    if text.startswith("n/a"):
        return "na"
    return ""


def leaderboard_html(experiment: str, header: Sequence[str], rows: Sequence[Sequence]) -> str:
    """The leaderboard as a table, one row per model (``data-model``), verdict cells coloured."""
    head = "".join(f"<th>{_escape(name)}</th>" for name in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            text = _escape(value)
            status = _status_class(str(value)) if isinstance(value, str) else ""
            cells.append(f'<td class="{status}">{text}</td>' if status else f"<td>{text}</td>")
        body.append(f'<tr data-model="{_escape(row[0])}">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table id="leaderboard-{_escape(experiment)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def verdicts_html(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as a list, each coloured by its status."""
    if not verdicts:
        return "<p>No targets declared.</p>"
    items = []
    for verdict in verdicts:
        status = verdict.status if verdict.applicable else "n/a"
        items.append(f'<li class="{_status_class(status)}">{_escape(verdict.line())}</li>')
    return f"<ul>{''.join(items)}</ul>"


def _figures_html(figures: Sequence[Path], root: Path) -> str:
    parts = []
    for path in figures:
        relative = path.relative_to(root).as_posix()
        parts.append(
            f'<figure id="figure-{_escape(path.stem)}"><img src="{_escape(relative)}" '
            f'alt="{_escape(path.stem)}"><figcaption>{_escape(path.stem)}</figcaption></figure>'
        )
    return "".join(parts)


def report_page(
    root: Path,
    boards: Mapping[str, tuple[Sequence[str], Sequence[Sequence]]],
    verdicts: Sequence[Verdict],
    figures: Mapping[str, Sequence[Path]],
    provenance: Mapping,
    title: str = "efa-bench report",
) -> str:
    """The page (module docstring). ``boards``: experiment → leaderboard (header, rows);
    ``figures``: experiment → PNG paths under ``root`` (``""``: figures of no experiment)."""
    sections = []
    for experiment, (header, rows) in sorted(boards.items()):
        own = [v for v in verdicts if experiment in v.experiments or v.spec.source == experiment]
        sections.append(
            f'<section id="experiment-{_escape(experiment)}"><h2>{_escape(experiment)}</h2>'
            f"<h3>Leaderboard</h3>{leaderboard_html(experiment, header, rows)}"
            f"<h3>Targets</h3>{verdicts_html(own)}"
            f"<h3>Figures</h3>{_figures_html(figures.get(experiment, ()), root)}</section>"
        )
    suite = [v for v in verdicts if not v.experiments and not v.spec.source]
    if suite or figures.get(""):
        sections.append(
            '<section id="suite"><h2>The suite</h2>'
            f"{verdicts_html(suite)}{_figures_html(figures.get('', ()), root)}</section>"
        )
    provenance_text = json.dumps(provenance, indent=2, sort_keys=True, default=str)
    sections.append(
        f'<section id="provenance"><h2>Provenance</h2><pre>{_escape(provenance_text)}</pre>'
        "</section>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_escape(title)}</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head>"
        f"<body><h1>{_escape(title)}</h1>{''.join(sections)}</body></html>\n"
    )
