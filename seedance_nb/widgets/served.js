// served: a video under the Jupyter server's root plays from the server's own URL for it
// (<baseUrl>files/<path>), so the browser streams it straight from the server even while the
// kernel is busy running cells, and seeks it with range requests. The Python side gives the
// path relative to the server's root, or "" when it knows of none. Where the page is not a
// Jupyter server's (marimo, a Voila of its own), or the URL fails to load (no /files/ route,
// a hidden folder), the view falls back to asking its Python side for the bytes.
// This file is prepended to each view's module by the Python side, after request.js.

function jupyterBase(doc) {
  // JupyterLab, Notebook 7 and Voila write their page config, baseUrl included, here
  const config = doc && doc.getElementById && doc.getElementById("jupyter-config-data");
  if (!config) return null;
  try {
    const base = JSON.parse(config.textContent || "{}").baseUrl;
    return typeof base === "string" && base ? new URL(base, doc.baseURI) : null;
  } catch {
    return null;
  }
}

function servedUrl(path, doc = globalThis.document) {
  if (!path) return null;
  const base = jupyterBase(doc);
  return base ? new URL(`files/${path}`, base).href : null;
}

// Point `video` at the server's URL for `path`; if it fails to load, `fallback()` is called
// once. Returns the URL, or null when there is none (the caller then asks the kernel at once).
function playServed(video, path, fallback, doc = globalThis.document) {
  const url = servedUrl(path, doc);
  if (!url) return null;
  const failed = () => {
    if (video.src === url) fallback();
  };
  video.addEventListener("error", failed, { once: true });
  video.src = url;
  return url;
}
