"""The renderer: definitions + data -> one self-contained HTML page. Pure: no I/O, no clients.

Plotly's JavaScript is embedded inline once (the page works offline, no CDN). Every panel's exact
numbers ride along as a `data-rows` JSON attribute (decimals as strings), so a reader or a test can
compare what is shown with what the SQL returned; plotly only gets floats for drawing."""
from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dashboards.definition import Dashboard, Panel


@dataclass(frozen=True)
class PanelData:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    error: str | None = None  # why there is no data (what failed, whether a retry can help)
    notes: list[str] = field(default_factory=list)  # e.g. "not filtered by customer"

    def column(self, name: str) -> list[Any]:
        try:
            i = self.columns.index(name)
        except ValueError:
            raise KeyError(f"column {name!r} not in result columns {self.columns}") from None
        return [r[i] for r in self.rows]


@dataclass(frozen=True)
class PageContext:
    generated_at: str
    engine: str
    filters: dict[str, str] = field(default_factory=dict)
    live: bool = False  # the served page: show the filter form and refresh
    refresh_seconds: int = 0
    auth_query: str = ""  # e.g. "key=..." carried into the filter form's action


def cell(v: Any) -> Any:
    """A JSON-safe exact value: decimals and timestamps as strings."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, (int, float, Decimal)):
        return float(v)
    try:
        return float(Decimal(str(v)))
    except Exception:  # noqa: BLE001 - a non-numeric value is drawn as a gap
        return None


def _label(axis: dict[str, Any]) -> str:
    return f"{axis['label']} ({axis['unit']})" if axis.get("unit") else axis["label"]


def _cat(v: Any) -> str:
    return "(none)" if v is None or v == "" else str(cell(v))


def figure(panel: Panel, data: PanelData) -> Any:
    """The plotly figure of one panel (raises KeyError when the data lacks a bound column)."""
    import plotly.graph_objects as go

    s = panel.spec
    fig = go.Figure()
    layout: dict[str, Any] = {}
    if panel.chart in ("bar", "bar_line"):
        xs = [_cat(v) if not s["x"].get("time") else cell(v) for v in data.column(s["x"]["column"])]
        for i, y in enumerate(s["y"]):
            ys = [_num(v) for v in data.column(y["column"])]
            if panel.chart == "bar_line" and y.get("axis") == "right":
                # Big markers over half-transparent bars: with one day the point sits on the bar's top.
                fig.add_trace(go.Scatter(x=xs, y=ys, name=_label(y), mode="lines+markers", yaxis="y2",
                                         marker={"size": 10}))
                layout["yaxis2"] = {"title": {"text": _label(y)}, "overlaying": "y", "side": "right",
                                    "rangemode": "tozero"}
            else:
                fig.add_trace(go.Bar(x=xs, y=ys, name=_label(y),
                                     opacity=0.6 if panel.chart == "bar_line" else 1.0))
                layout["yaxis"] = {"title": {"text": _label(y)}, "rangemode": "tozero"}
        layout["xaxis"] = {"title": {"text": _label(s["x"])}}
        if s["x"].get("time"):
            layout["xaxis"]["type"] = "category"  # one bar per reported day, no interpolated gaps
    elif panel.chart == "hbar":
        cats = [_cat(v) for v in data.column(s["x"]["column"])]
        y0 = s["y"][0]
        hover = s.get("hover", [])
        custom = [[cell(v) for v in vals] for vals in zip(*(data.column(h["column"]) for h in hover))] \
            if hover else None
        tmpl = "%{y}: %{x}" + "".join(f"<br>{_label(h)}: %{{customdata[{i}]}}" for i, h in enumerate(hover))
        fig.add_trace(go.Bar(x=[_num(v) for v in data.column(y0["column"])], y=cats, orientation="h",
                             name=_label(y0), customdata=custom, hovertemplate=tmpl + "<extra></extra>"))
        layout["xaxis"] = {"title": {"text": _label(y0)}, "rangemode": "tozero"}
        layout["yaxis"] = {"title": {"text": _label(s["x"])}, "autorange": "reversed", "type": "category"}
    elif panel.chart == "stacked_bar":
        xcol, ycol = s["x"]["column"], s["y"][0]["column"]
        keys = [tuple(_cat(v) for v in vals) for vals in zip(*(data.column(c) for c in s["series"]))]
        xs, ys = data.column(xcol), data.column(ycol)
        for key in sorted(set(keys)):
            pts = [(cell(x), _num(y)) for k, x, y in zip(keys, xs, ys) if k == key]
            fig.add_trace(go.Bar(x=[p[0] for p in pts], y=[p[1] for p in pts], name=" / ".join(key)))
        layout.update(barmode="stack", xaxis={"title": {"text": _label(s["x"])}, "type": "category"},
                      yaxis={"title": {"text": _label(s["y"][0])}, "rangemode": "tozero"})
    elif panel.chart in ("funnel", "columns"):
        row = data.rows[0] if data.rows else tuple(None for _ in data.columns)
        labels = [st["label"] for st in s["stages"]]
        values = [_num(row[data.columns.index(st["column"])]) for st in s["stages"]]
        if panel.chart == "funnel":
            # "percent initial" divides by the first stage: with none created it would print Infinity%.
            textinfo = "value+percent initial" if values and values[0] else "value"
            fig.add_trace(go.Funnel(y=labels, x=values, textinfo=textinfo,
                                    name=s.get("unit", "")))
            layout["yaxis"] = {"title": {"text": "Stage"}}
            layout["xaxis"] = {"title": {"text": f"Count ({s.get('unit', '')})"}}
        else:
            fig.add_trace(go.Bar(x=labels, y=values, name=s.get("unit", "")))
            layout["yaxis"] = {"title": {"text": f"Count ({s.get('unit', '')})"}, "rangemode": "tozero"}
            layout["xaxis"] = {"title": {"text": "Measure"}}
        if s.get("note_column"):
            nc = s["note_column"]
            v = row[data.columns.index(nc["column"])] if data.rows else None
            layout["annotations"] = [{"text": f"{nc['label']}: {_rate(v)}", "xref": "paper", "yref": "paper",
                                      "x": 0, "y": 1.08, "showarrow": False, "xanchor": "left"}]
    elif panel.chart == "table":
        cols = s["columns"]
        fig.add_trace(go.Table(header={"values": [_label(c) for c in cols], "align": "left"},
                               cells={"values": [[_cat(v) for v in data.column(c["column"])] for c in cols],
                                      "align": "left"}))
    fig.update_layout(autosize=True, margin={"l": 60, "r": 60, "t": 30, "b": 50}, height=360,
                      legend={"orientation": "h", "y": -0.25}, template="plotly_white", **layout)
    return fig


def _rate(v: Any) -> str:
    n = _num(v)
    return "n/a" if n is None else f"{n * 100:.2f} %"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1d2630}
header{background:#1d2630;color:#fff;padding:12px 20px}
header h1{margin:0;font-size:20px} header p{margin:4px 0 0;font-size:13px;color:#c7d0da}
form.filters{display:flex;gap:10px;align-items:end;flex-wrap:wrap;margin-top:8px}
form.filters label{font-size:12px;display:flex;flex-direction:column;color:#c7d0da}
section{padding:8px 20px} section h2{font-size:18px;margin:12px 0 2px} section>p{margin:0 0 8px;font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(560px,100%),1fr));gap:14px}
.panel{min-width:0;overflow:hidden;background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:8px 10px}
.panel h3{font-size:14px;margin:2px 0 4px} .panel .meta{font-size:11px;color:#5b6875}
.panel-error{color:#9b1c1c;background:#fdecec;padding:10px;border-radius:4px;font-size:13px}
.empty{color:#5b6875;padding:20px;font-size:13px}
"""


def render_page(dashboards: Sequence[Dashboard], data: dict[str, PanelData], ctx: PageContext) -> str:
    """One HTML page holding every dashboard; `data` is keyed by panel id."""
    from plotly.offline import get_plotlyjs

    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             "<link rel='icon' href='data:,'>",  # no favicon request: the page fetches nothing
             f"<title>{html.escape(' / '.join(d.title for d in dashboards))}</title>"]
    if ctx.live and ctx.refresh_seconds:
        parts.append(f"<meta http-equiv='refresh' content='{int(ctx.refresh_seconds)}'>")
    parts += [f"<style>{CSS}</style>", f"<script type='text/javascript'>{get_plotlyjs()}</script>",
              "</head><body>", _header(dashboards, ctx)]
    for d in dashboards:
        parts.append(f"<section id='{html.escape(d.id)}'><h2>{html.escape(d.title)}</h2>"
                     f"<p>{html.escape(d.description)}</p><div class='grid'>")
        for p in d.panels:
            parts.append(_panel(p, data.get(p.id) or PanelData([], [], error="no data was fetched")))
        parts.append("</div></section>")
    # Fit every figure to its grid cell once the page has its final width.
    parts.append("<script>window.addEventListener('load',function(){document.querySelectorAll("
                 "'.js-plotly-plot').forEach(function(g){Plotly.Plots.resize(g);});});</script>")
    parts.append("</body></html>")
    return "".join(parts)


def _header(dashboards: Sequence[Dashboard], ctx: PageContext) -> str:
    f = ctx.filters
    shown = ", ".join(f"{k} = {v}" for k, v in f.items() if v) or "none"
    out = ["<header><h1>CQRS analytics dashboards</h1>",
           (f"<p>Generated {html.escape(ctx.generated_at)} from the read models; SQL engine: "
            f"{html.escape(ctx.engine)}; filters: {html.escape(shown)}. Money in USD, times in UTC.</p>")]
    if ctx.live:
        hidden = ""
        if ctx.auth_query:
            k, _, v = ctx.auth_query.partition("=")
            hidden = f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        out.append(
            "<form class='filters' method='get' action=''>" + hidden +
            f"<label>From (day)<input type='date' name='from' value='{html.escape(f.get('from', ''))}'></label>"
            f"<label>To (day)<input type='date' name='to' value='{html.escape(f.get('to', ''))}'></label>"
            f"<label>Customer<input type='text' name='customer' value='{html.escape(f.get('customer', ''))}'>"
            "</label><button type='submit'>Apply</button></form>")
    out.append("</header>")
    return "".join(out)


def _panel(p: Panel, d: PanelData) -> str:
    rows_json = json.dumps({"columns": d.columns, "rows": [[cell(v) for v in r] for r in d.rows]})
    attrs = (f"class='panel' id='panel-{html.escape(p.id)}' data-panel='{html.escape(p.id)}' "
             f"data-source='{html.escape(p.source_kind)}:{html.escape(p.source)}' "
             f"data-rows='{html.escape(rows_json, quote=True)}'")
    head = f"<h3>{html.escape(p.title)}</h3><div class='meta'>source: {html.escape(p.source_kind)} " \
           f"<code>{html.escape(p.source)}</code>{''.join(' · ' + html.escape(n) for n in d.notes)}</div>"
    if d.error:
        return f"<div {attrs} data-state='error'>{head}<div class='panel-error'>{html.escape(d.error)}</div></div>"
    try:
        fig = figure(p, d)
    except (KeyError, IndexError, ValueError) as e:
        return (f"<div {attrs} data-state='error'>{head}<div class='panel-error'>cannot draw: "
                f"{html.escape(str(e))}</div></div>")
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{p.id}",
                       config={"displaylogo": False, "responsive": True})
    state = "ok" if d.rows else "empty"
    empty = "" if d.rows else "<div class='empty'>no rows for these filters</div>"
    return f"<div {attrs} data-state='{state}'>{head}{empty}{body}</div>"
