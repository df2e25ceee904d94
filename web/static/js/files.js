// files.js: attachments in the widget and the desk (docs/api.md,
// "Attachments"). A file is uploaded into its session as multipart and
// arrives as a chat.file message; its bytes are read with the reader's own
// token (a checked request, never a public URL), so an image is fetched as
// a blob and shown from an object URL, and a download is saved the same way.

import { ApiError, tenantURL } from "./api.js";
import { h } from "./dom.js";

// The types the hub accepts (it checks the bytes; this only filters the picker).
export const ACCEPT = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,.pdf,.txt";

/** uploadFile sends file into session sid; it resolves with {seq, file}. */
export async function uploadFile({ base, tenant, token }, sid, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("client_msg_id", "up-" + crypto.randomUUID());
  let res;
  try {
    res = await fetch(tenantURL(`/api/v1/sessions/${sid}/files`, base, tenant), {
      method: "POST", body: form, headers: { Authorization: "Bearer " + token }, credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "network", "cannot reach the hub");
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data?.error?.code || "http_" + res.status, data?.error?.message || res.statusText);
  return data;
}

// shown holds the object URL of each image shown on this page, by file id:
// a view rebuilt (the desk renders its pane again on every event) shows it
// at once instead of fetching it again.
const shown = new Map();

async function fetchBlob({ base, tenant, token }, sid, ref) {
  const res = await fetch(tenantURL(`/api/v1/sessions/${sid}/files/${ref.id}?name=${encodeURIComponent(ref.name)}`, base, tenant), {
    headers: { Authorization: "Bearer " + token }, credentials: "omit",
  });
  if (!res.ok) throw new ApiError(res.status, "http_" + res.status, "the file cannot be read");
  return res.blob();
}

function size(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n} B`;
}

/**
 * fileView shows an attachment: an image preview (click opens it) or a
 * card with name, size and type and a Download button. prefix is the
 * data-testid prefix ("sb-" in the widget).
 */
export function fileView(hub, sid, ref, prefix = "") {
  const save = async () => {
    const blob = await fetchBlob(hub, sid, ref);
    const a = h("a", { href: URL.createObjectURL(blob), download: ref.name });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };
  if (ref.content_type.startsWith("image/")) {
    const img = h("img", { class: "file-img", alt: ref.name, "data-testid": prefix + "file-img", "data-file": ref.id });
    const url = shown.get(ref.id);
    if (typeof url === "string") {
      img.src = url;
    } else {
      if (!url) shown.set(ref.id, fetchBlob(hub, sid, ref).then((b) => { const u = URL.createObjectURL(b); shown.set(ref.id, u); return u; }));
      shown.get(ref.id).then((u) => { img.src = u; }, () => { shown.delete(ref.id); img.alt = ref.name + " (cannot be shown)"; });
    }
    return h("div", { class: "file", "data-testid": prefix + "file" }, h("button", { type: "button", class: "file-open", "aria-label": "Open " + ref.name, onclick: save }, img));
  }
  return h("div", { class: "file file-card", "data-testid": prefix + "file", "data-file": ref.id },
    h("span", { class: "file-icon", "aria-hidden": "true" }, ref.content_type === "application/pdf" ? "PDF" : "TXT"),
    h("span", { class: "file-meta" }, h("strong", { class: "file-name" }, ref.name), h("span", { class: "file-size" }, `${size(ref.size)} · ${ref.content_type}`)),
    h("button", { type: "button", class: "secondary", onclick: save }, "Download"));
}
