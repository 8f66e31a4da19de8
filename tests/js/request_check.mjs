// Drives request.js against a fake widget model whose "kernel" answers as anywidget's Python
// `command` does. Prints one JSON line of what happened; tests/unit/test_request_js.py judges it.
import { readFileSync } from "node:fs";

const source = readFileSync(process.argv[2], "utf8");
const { request } = new Function(`${source}\nreturn { request };`)();

function fakeModel({ drop = 0, delay = 10 } = {}) {
  const handlers = new Set();
  const sent = [];
  return {
    sent,
    on(event, fn) { if (event === "msg:custom") handlers.add(fn); },
    off(event, fn) { handlers.delete(fn); },
    send(msg, callbacks, buffers) {
      sent.push({ msg, buffers: buffers.length });
      if (sent.length <= drop) return; // lost, or the kernel never got to it
      setTimeout(() => {
        const reply = { id: msg.id, kind: "anywidget-command-response", response: { ok: true, echo: msg.msg } };
        for (const fn of [...handlers]) fn({ id: "someone-else", kind: "anywidget-command-response" }, []);
        for (const fn of [...handlers]) fn(reply, [new DataView(new ArrayBuffer(3))]);
      }, delay);
    },
    handlers,
  };
}

const out = {};
const alive = setInterval(() => {}, 1000); // Node does not wait on AbortSignal.timeout alone
// marimo: no experimental.invoke, the wire format over model.send
{
  const model = fakeModel();
  const [reply, buffers] = await request(model, undefined, "_video", { key: "k" }, { buffers: [new Uint8Array(2)] });
  out.fallback = { reply, buffers: buffers.length, bytes: buffers[0].byteLength, sent: model.sent, left: model.handlers.size };
}
// a busy kernel: the first attempt times out, the retry is answered; onSlow fired
{
  const model = fakeModel({ drop: 1 });
  let slow = 0;
  const [reply] = await request(model, undefined, "_video", {}, { timeout: 50, retries: 2, slowAfter: 20, onSlow: () => slow++ });
  out.retry = { reply, attempts: model.sent.length, slow, ids: new Set(model.sent.map((s) => s.msg.id)).size };
}
// no retries for what must be asked once (a vote): the timeout is an error
{
  const model = fakeModel({ drop: 1 });
  try { await request(model, undefined, "_vote", { index: 0 }, { timeout: 30 }); out.once = "answered"; }
  catch (exc) { out.once = { error: String(exc.name || exc), attempts: model.sent.length }; }
}
// JupyterLab, Notebook 7, Voila: experimental.invoke, given an explicit signal
{
  let seen = null;
  const experimental = { invoke: async (name, msg, options) => { seen = { name, msg, signal: options.signal instanceof AbortSignal, aborted: options.signal.aborted, buffers: options.buffers.length }; return [{ ok: true }, []]; } };
  const [reply] = await request(fakeModel(), experimental, "_undo", {});
  out.invoke = { reply, seen };
}
// marimo: an invoke that exists but refuses; the wire format is used instead (and remembered)
{
  let calls = 0;
  const experimental = { invoke: async () => { calls++; throw new Error("anywidget.invoke not supported in marimo. Please file an issue"); } };
  const model = fakeModel();
  const [first] = await request(model, experimental, "_video", { n: 1 });
  const [second] = await request(model, experimental, "_video", { n: 2 });
  out.marimo = { first, second, calls, sent: model.sent.length };
}
clearInterval(alive);
console.log(JSON.stringify(out));
