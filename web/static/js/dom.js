// dom.js: the DOM helpers every page shares, the widget included.

// h builds an element: h("p", {class: "x", "aria-label": "y"}, "text", child).
// Strings become text nodes: nothing is ever parsed as HTML. Attributes
// named on… are listeners; false and null ones are left out, as are null
// and false children.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) el.append(c);
  return el;
}

// A message's tick for its sender: pending until the hub stored it, sent,
// delivered (the other side's client has it), read; failed when refused.
export const TICKS = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" };
export const TICK_LABEL = { pending: "Sending", sent: "Sent", delivered: "Delivered", read: "Read", failed: "Failed" };

// tickState is the tick of a stored message seq given the other side's
// read and delivered markers (0 for a message not stored yet).
export function tickState(seq, read, delivered) {
  if (!seq) return "pending";
  return read >= seq ? "read" : Math.max(read, delivered) >= seq ? "delivered" : "sent";
}
