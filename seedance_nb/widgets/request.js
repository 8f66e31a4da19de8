// request: one way for every view to ask its Python side for something and get one reply
// (with binary buffers), in JupyterLab, Notebook 7, Voila and marimo alike.
// The Python side is anywidget's `command`. Where the frontend provides anywidget's
// `experimental.invoke`, it is used with a generous signal (never its 3-second default);
// where it does not, or refuses (marimo), the same wire format travels over model.send /
// msg:custom.
// A busy kernel answers late, not never: a request waits minutes, and an idempotent one
// (`retries`) is asked again if an attempt times out. `onSlow` fires after `slowAfter` ms
// without a reply, so the view can say "loading…" instead of looking broken.
// This file is prepended to each view's module by the Python side: one copy for all views.

const REQUEST_ATTEMPT_MS = 120000;
let requestCounter = 0;

// frontends whose `invoke` exists but refuses (marimo's throws "not supported")
const requestRefused = new WeakSet();

async function requestOnce(model, experimental, name, msg, buffers, signal) {
  if (experimental && typeof experimental.invoke === "function" && !requestRefused.has(experimental)) {
    try {
      return await experimental.invoke(name, msg, { buffers, signal });
    } catch (exc) {
      if (!/not supported/i.test(String((exc && exc.message) || exc))) throw exc;
      requestRefused.add(experimental); // from now on, the wire format below
    }
  }
  return requestByWire(model, name, msg, buffers, signal);
}

function requestByWire(model, name, msg, buffers, signal) {
  const id = `sd-${Date.now().toString(36)}-${(requestCounter++).toString(36)}`;
  return new Promise((resolve, reject) => {
    function done() {
      model.off("msg:custom", handler);
    }
    function handler(reply, replyBuffers) {
      if (!reply || reply.id !== id || reply.kind !== "anywidget-command-response") return;
      done();
      resolve([reply.response, replyBuffers || []]);
    }
    if (signal.aborted) { reject(signal.reason); return; }
    signal.addEventListener("abort", () => { done(); reject(signal.reason); }, { once: true });
    model.on("msg:custom", handler);
    model.send({ id, kind: "anywidget-command", name, msg }, undefined, buffers);
  });
}

async function request(model, experimental, name, msg = {}, options = {}) {
  const {
    buffers = [],
    timeout = REQUEST_ATTEMPT_MS,
    retries = 0,
    slowAfter = 1500,
    onSlow = null,
    cancel = null, // an AbortSignal: the view went away
  } = options;
  const slow = onSlow ? setTimeout(onSlow, slowAfter) : null;
  try {
    for (let attempt = 0; ; attempt++) {
      const signals = [AbortSignal.timeout(timeout)];
      if (cancel) signals.push(cancel);
      const signal = AbortSignal.any ? AbortSignal.any(signals) : signals[0];
      try {
        return await requestOnce(model, experimental, name, msg, buffers, signal);
      } catch (exc) {
        if ((cancel && cancel.aborted) || attempt >= retries) throw exc;
        // timed out (the kernel was busy or restarted): ask again, a little later
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** attempt)));
      }
    }
  } finally {
    if (slow) clearTimeout(slow);
  }
}
