// chart.js: the small SVG charts of the Reports tab (docs/web.md says why
// they are drawn here rather than by a library). A chart is a <figure>:
// its caption, an <svg role="img"> whose aria-label sums it up, a legend,
// and a real <table> of the same numbers beside it for keyboards, screen
// readers and copying. Values are numbers or null (no data: a gap in a
// line, no bar, an em dash in the table).

import { h } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 560, H = 190, PAD = { l: 50, r: 10, t: 10, b: 26 };
// COLORS are the series' colours, in order (app.css has them for the
// legend's swatches as .swatch.c0…c4: the pages' CSP allows no inline style).
export const COLORS = ["#3450d8", "#12805c", "#b42318", "#b54708", "#7a5af8"];

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

// nice rounds v up to 1, 2 or 5 times a power of ten.
function nice(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v * (1 - 1e-9));
}

// axis picks the y axis for the largest value: {top, step, minutes}, at
// most four steps of a round size. Fractions ("%") go from 0 to 100%;
// counts (no unit) step by whole numbers, so that no grid line reads "1.25
// chats"; seconds step by round minutes from two minutes up.
function axis(max, unit) {
  if (unit === "%") {
    const top = Math.max(1, nice(max || 1));
    return { top, step: top / 4 };
  }
  if (!(max > 0)) return { top: unit ? 1 : 4, step: unit ? 0.25 : 1 };
  const per = unit === "s" && max >= 120 ? 60 : 1;
  let step = nice(max / per / 4) * per;
  if (!unit) step = Math.max(1, step);
  return { top: step * Math.ceil(max / step - 1e-9), step, minutes: per === 60 };
}

// tick is a y-axis label: short, and as precise as the axis' step (an
// axis of seconds in minutes from two minutes up).
function tick(v, unit, minutes) {
  if (unit === "%") return `${Math.round(v * 100)}%`;
  const text = String(Math.round((minutes ? v / 60 : v) * 1000) / 1000);
  return unit === "s" ? text + (minutes ? " min" : " s") : text;
}

export const dash = "—";

// fmt shows a value in a table cell: unit "%" for fractions, "s" for
// seconds, none for counts.
export function fmt(v, unit = "") {
  if (v == null) return dash;
  if (unit === "%") return `${Math.round(v * 1000) / 10}%`;
  if (unit === "s") return v >= 120 ? `${Math.round(v / 6) / 10} min` : `${Math.round(v * 10) / 10} s`;
  return String(Math.round(v * 100) / 100);
}

// chart builds a figure: kind "bar" (grouped bars) or "line"; labels name
// the x positions in the table and the tooltips, ticks (default: labels)
// under the x axis, where room is short; series are {key, name, values,
// total} (total, when given, is the table's last row); unit is how the
// numbers read.
export function chart({ id, title, kind, labels, ticks = labels, series, unit = "", note = "" }) {
  const n = labels.length;
  const { top, step: ystep, minutes } = axis(Math.max(0, ...series.flatMap((se) => se.values.filter((v) => v != null))), unit);
  const x0 = PAD.l, x1 = W - PAD.r, y0 = H - PAD.b, y1 = PAD.t;
  const step = (x1 - x0) / Math.max(n, 1);
  const y = (v) => y0 - (v / top) * (y0 - y1);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-testid": "chart-" + id, class: "chart" });
  for (let i = 0; i * ystep <= top * (1 + 1e-9); i++) {
    const v = i * ystep;
    svg.append(s("line", { x1: x0, x2: x1, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: x0 - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, tick(v, unit, minutes)));
  }
  const every = Math.max(1, Math.ceil(n / 12));
  ticks.forEach((l, i) => {
    if (i % every === 0) svg.append(s("text", { x: x0 + step * (i + 0.5), y: H - 8, "text-anchor": "middle", class: "tick" }, l));
  });
  series.forEach((se, k) => {
    const color = COLORS[k % COLORS.length];
    if (kind === "bar") {
      const bw = (step * 0.8) / series.length;
      se.values.forEach((v, i) => {
        if (v == null || v === 0) return;
        svg.append(s("rect", { x: x0 + step * i + step * 0.1 + bw * k, y: y(v), width: Math.max(bw - 1, 1), height: y0 - y(v), fill: color },
          s("title", {}, `${labels[i]}: ${se.name} ${fmt(v, unit)}`)));
      });
      return;
    }
    const segments = [[]]; // a null breaks the line
    se.values.forEach((v, i) => {
      if (v == null) {
        segments.push([]);
        return;
      }
      const px = x0 + step * (i + 0.5);
      segments.at(-1).push(`${px.toFixed(1)},${y(v).toFixed(1)}`);
      svg.append(s("circle", { cx: px, cy: y(v), r: 2.5, fill: color }, s("title", {}, `${labels[i]}: ${se.name} ${fmt(v, unit)}`)));
    });
    const d = segments.filter((seg) => seg.length > 1).map((seg) => "M" + seg.join("L")).join(" ");
    if (d) svg.append(s("path", { d, fill: "none", stroke: color, "stroke-width": 2 }));
  });
  const summary = series.map((se) => {
    const vals = se.values.filter((v) => v != null);
    return vals.length ? `${se.name} from ${fmt(Math.min(...vals), unit)} to ${fmt(Math.max(...vals), unit)}` : `${se.name}: no data`;
  }).join("; ");
  svg.setAttribute("aria-label", `${title}: ${summary}. The table below has every value.`);
  const legend = h("ul", { class: "legend", "aria-hidden": "true" },
    series.map((se, k) => h("li", {}, h("span", { class: "swatch c" + (k % COLORS.length) }), se.name)));
  const table = h("table", { class: "data", "data-testid": "table-" + id },
    h("caption", { class: "sr-only" }, title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "When"), series.map((se) => h("th", { scope: "col" }, se.name)))),
    h("tbody", {}, labels.map((l, i) => h("tr", {}, h("th", { scope: "row" }, l),
      series.map((se) => h("td", { "data-col": se.key || se.name }, fmt(se.values[i], unit)))))),
    series.some((se) => "total" in se) ? h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, "Total"),
      series.map((se) => h("td", { "data-col": se.key || se.name }, fmt(se.total, unit))))) : null);
  return h("figure", { class: "card chartbox", "data-chart": id },
    h("figcaption", {}, h("h3", {}, title), note ? h("span", { class: "muted" }, note) : null),
    svg, legend,
    h("details", { class: "chartdata" }, h("summary", {}, "Data"), table));
}
