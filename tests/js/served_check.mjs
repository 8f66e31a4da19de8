// Drives served.js against a fake page and video element. Prints one JSON line of what
// happened; tests/test_video_by_url.py judges it.
import { readFileSync } from "node:fs";

const source = readFileSync(process.argv[2], "utf8");
const { servedUrl, playServed } = new Function(`${source}\nreturn { servedUrl, playServed };`)();

function page(config, baseURI = "http://host:8888/lab/tree/notebooks/q.ipynb") {
  return {
    baseURI,
    getElementById: (id) => (id === "jupyter-config-data" && config !== null ? { textContent: config } : null),
  };
}

function video() {
  const listeners = {};
  return {
    src: "",
    addEventListener(name, fn, options) { (listeners[name] ||= []).push({ fn, once: options && options.once }); },
    fire(name) {
      const all = listeners[name] || [];
      listeners[name] = all.filter((l) => !l.once);
      all.forEach((l) => l.fn());
    },
  };
}

const out = {};
const lab = page(JSON.stringify({ baseUrl: "/", appName: "JupyterLab" }));
const hub = page(JSON.stringify({ baseUrl: "/user/ann/" }), "https://hub.example/user/ann/lab");
out.lab = servedUrl("outputs/quickstart/task_1.mp4", lab);
out.hub = servedUrl("a%20b/c.mp4", hub);
out.none = servedUrl("outputs/x.mp4", page(null)); // marimo: no Jupyter page config
out.broken = servedUrl("outputs/x.mp4", page("{not json"));
out.empty = servedUrl("", lab); // the kernel knows of no server root
// a URL that fails to load: the fallback is asked once
{
  const v = video();
  let asked = 0;
  out.played = playServed(v, "outputs/a.mp4", () => asked++, lab);
  out.src = v.src;
  v.fire("error");
  v.fire("error");
  out.fallbacks = asked;
}
// an error after the view moved on to another source is not the URL's
{
  const v = video();
  let asked = 0;
  playServed(v, "outputs/a.mp4", () => asked++, lab);
  v.src = "blob:http://host:8888/123";
  v.fire("error");
  out.otherError = asked;
}
// no URL to try: nothing set, the caller asks the kernel itself
{
  const v = video();
  let asked = 0;
  out.noServer = playServed(v, "outputs/a.mp4", () => asked++, page(null));
  out.noServerSrc = v.src;
  out.noServerFallbacks = asked;
}
console.log(JSON.stringify(out));
