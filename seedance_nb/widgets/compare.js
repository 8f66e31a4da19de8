// Compare: videos side by side that play, pause, seek, loop and step frames together, with a
// vote per video (buttons or the keys 1..n), undo (u), and a blind mode. All state lives in
// Python; requests to it (vote, undo, the video bytes) go through `request` (request.js,
// prepended by the Python side): anywidget commands with one reply each. A video under the
// Jupyter server's root plays from the server's URL for it instead (`playServed`, served.js),
// never in blind mode, where a path would tell the videos apart.

const KEYS_HELP = "keys: 1–{n} vote · u undo · , . frame · space play/pause";

function columns(count) {
  if (count <= 3) return Math.max(count, 1);
  if (count === 4) return 2;
  return count <= 9 ? 3 : 4;
}

function plural(count) {
  return `${count} vote${count === 1 ? "" : "s"}`;
}

function button(cls, text, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `sd-button ${cls}`;
  b.textContent = text;
  if (title) b.title = title;
  return b;
}

function render({ model, el, experimental }) {
  el.classList.add("sd-compare");
  el.tabIndex = 0; // focusable, so the keys reach it
  el.dataset.lmSuppressShortcuts = "true"; // keep JupyterLab's own shortcuts out of it
  const urls = new Map(); // item key -> blob URL of its video
  const asked = new Set();
  const cells = new Map(); // item key -> cell element
  let syncing = false;
  let alive = true;
  const gone = new AbortController();

  el.innerHTML = "";
  const bar = document.createElement("div");
  bar.className = "sd-compare-bar";
  const play = button("sd-play", "▶ play all");
  const pause = button("sd-pause", "❚❚ pause all");
  const back = button("sd-back", "◀ frame", "one frame back (,)");
  const next = button("sd-next", "frame ▶", "one frame on (.)");
  const undo = button("sd-undo", "↶ undo vote", "take back the last vote (u)");
  const loop = document.createElement("label");
  loop.className = "sd-check";
  loop.innerHTML = '<input type="checkbox" class="sd-loop"> loop';
  const blind = document.createElement("label");
  blind.className = "sd-check";
  blind.title = "hide labels, prompts and prices, and shuffle the sides";
  blind.innerHTML = '<input type="checkbox" class="sd-blind"> blind';
  const frame = document.createElement("span");
  frame.className = "sd-frame";
  bar.append(play, pause, back, next, frame, loop, blind, undo);
  const grid = document.createElement("div");
  grid.className = "sd-compare-grid";
  const foot = document.createElement("div");
  foot.className = "sd-compare-foot";
  const note = document.createElement("span");
  note.className = "sd-note";
  note.setAttribute("aria-live", "polite");
  const help = document.createElement("span");
  help.className = "sd-compare-help";
  foot.append(note, help);
  const error = document.createElement("div");
  error.className = "sd-compare-error";
  error.setAttribute("role", "alert");
  el.append(bar, grid, foot, error);

  const videos = () => [...grid.querySelectorAll("video")];
  const items = () => model.get("items");

  function showError(message) {
    error.textContent = message || "";
    error.style.display = message ? "block" : "none";
  }

  function follow(source, action) {
    if (syncing) return;
    syncing = true;
    for (const other of videos()) {
      if (other === source) continue;
      if (action === "seek" && Math.abs(other.currentTime - source.currentTime) > 0.05) {
        other.currentTime = source.currentTime;
      }
      if (action === "play" && other.paused) other.play().catch(() => {});
      if (action === "pause" && !other.paused) other.pause();
    }
    syncing = false;
  }

  function fps() {
    const ready = items().find((item) => item.ready);
    return (ready && ready.fps) || 24;
  }

  function showFrame() {
    const lead = videos()[0];
    if (!lead) { frame.textContent = ""; return; }
    const rate = fps();
    const index = Math.floor(lead.currentTime * rate + 1e-3);
    const total = items().find((item) => item.ready)?.frames;
    frame.textContent = `frame ${index + 1}${total ? ` / ${total}` : ""} · ${lead.currentTime.toFixed(2)} s`;
  }

  function step(direction) {
    const all = videos();
    if (!all.length) return;
    all.forEach((v) => v.pause());
    const rate = fps();
    const lead = all[0];
    let index = Math.max(0, Math.floor(lead.currentTime * rate + 1e-3) + direction);
    const total = items().find((item) => item.ready)?.frames;
    if (total) index = Math.min(index, total - 1);
    const time = (index + 0.5) / rate; // the middle of the frame: no rounding puts it on the edge
    syncing = true;
    all.forEach((v) => { v.currentTime = time; });
    syncing = false;
    frame.textContent = `frame ${index + 1}${total ? ` / ${total}` : ""} · ${time.toFixed(2)} s`;
  }

  function playAll() {
    videos().forEach((v) => v.play().catch(() => {}));
  }

  function pauseAll() {
    videos().forEach((v) => v.pause());
  }

  // a vote or undo is asked once (never twice by a retry); a video may be asked again
  async function ask(name, msg, options = {}) {
    try {
      const [reply, buffers] = await request(model, experimental, name, msg, {
        cancel: gone.signal,
        ...options,
      });
      if (reply && reply.ok === false) showError(reply.error);
      return [reply, buffers];
    } catch (exc) {
      if (alive) showError(`${name.replace("_", "")}: ${exc}`);
      return [null, []];
    }
  }

  // a vote or undo, then `last_vote` written from here: a change made by the frontend is what
  // marimo re-runs the cells that read the comparison on (a change from Python is not)
  async function ballot(name, msg) {
    const [reply] = await ask(name, msg);
    if (!alive || !reply || !reply.ok) return;
    model.set("last_vote", { ballot: reply.value ?? null, undone: name === "_undo", at: Date.now() });
    model.save_changes();
  }

  async function vote(index) {
    const item = items()[index];
    if (!item || !item.ready) return;
    const cellButton = cells.get(item.key)?.querySelector(".sd-prefer");
    if (cellButton) cellButton.disabled = true; // one vote per press, never a burst
    await ballot("_vote", { index });
    if (cellButton && alive) cellButton.disabled = !item.ready;
  }

  async function fetchVideo(key) {
    if (urls.has(key) || asked.has(key)) return;
    asked.add(key);
    const loading = () => cells.get(key)?.querySelector(".sd-compare-loading");
    const [reply, buffers] = await ask("_video", { key }, {
      retries: 4,
      onSlow: () => {
        const note = loading();
        if (note) note.textContent = "loading the video… (waiting for the kernel)";
      },
    });
    if (!alive) return;
    if (!reply || !reply.ok || !buffers || !buffers.length) {
      asked.delete(key);
      const note = loading();
      if (note) note.textContent = "the video did not load: press retry";
      return;
    }
    loading()?.remove();
    urls.set(key, URL.createObjectURL(new Blob([buffers[0]], { type: "video/mp4" })));
    const video = cells.get(key)?.querySelector("video");
    if (video) video.src = urls.get(key);
  }

  function makeCell(item) {
    const cell = document.createElement("div");
    cell.className = "sd-compare-cell";
    cell.innerHTML = `<div class="sd-compare-head">
        <kbd class="sd-key"></kbd><span class="sd-compare-label"></span>
        <span class="sd-chip"></span></div>
      <div class="sd-compare-media"></div>
      <div class="sd-compare-prompt"></div>
      <div class="sd-compare-meta"></div>
      <div class="sd-compare-vote"><button type="button" class="sd-button sd-prefer">prefer</button>
        <span class="sd-votes"></span></div>`;
    cell.querySelector(".sd-prefer").onclick = () => {
      const position = items().findIndex((other) => other.key === item.key);
      if (position >= 0) vote(position);
    };
    return cell;
  }

  function fillCell(cell, item, index, votes, posters) {
    cell.querySelector(".sd-key").textContent = String(index + 1);
    cell.querySelector(".sd-compare-label").textContent = item.name;
    const chip = cell.querySelector(".sd-chip");
    chip.textContent = item.status;
    chip.className = `sd-chip sd-tone-${item.tone}`;
    const prompt = cell.querySelector(".sd-compare-prompt");
    prompt.innerHTML = "";
    for (const [word, differs] of item.words || []) {
      const span = document.createElement(differs ? "mark" : "span");
      span.textContent = word;
      prompt.appendChild(span);
    }
    const meta = cell.querySelector(".sd-compare-meta");
    if (item.model) {
      const credits = item.credits;
      const render = item.render_s ? ` · rendered in ${item.render_s.toFixed(1)} s` : "";
      meta.textContent = `#${item.id} · ${item.model} · ${credits}${render}`;
    } else {
      meta.textContent = "hidden while blind";
    }
    cell.querySelector(".sd-votes").textContent = plural(votes[index] || 0);
    const prefer = cell.querySelector(".sd-prefer");
    prefer.disabled = !item.ready;
    prefer.title = `prefer ${item.name} (key ${index + 1})`;
    const media = cell.querySelector(".sd-compare-media");
    if (item.ready && !media.querySelector("video")) {
      const video = document.createElement("video");
      video.muted = true;
      video.controls = true;
      video.playsInline = true;
      video.preload = "auto";
      video.loop = model.get("loop");
      const poster = posters[index];
      if (poster && poster.byteLength) {
        video.poster = URL.createObjectURL(new Blob([poster], { type: "image/jpeg" }));
      }
      video.addEventListener("play", () => follow(video, "play"));
      video.addEventListener("pause", () => follow(video, "pause"));
      video.addEventListener("seeked", () => { follow(video, "seek"); showFrame(); });
      video.addEventListener("timeupdate", showFrame);
      video.addEventListener("loadedmetadata", showFrame);
      media.appendChild(video);
      if (urls.has(item.key)) video.src = urls.get(item.key);
      else if (!playServed(video, item.path, () => fetchVideo(item.key))) {
        const loading = document.createElement("div");
        loading.className = "sd-compare-loading";
        loading.textContent = "loading the video…";
        loading.onclick = () => fetchVideo(item.key);
        media.appendChild(loading);
        fetchVideo(item.key);
      }
    } else if (!item.ready && !media.firstChild) {
      media.innerHTML = '<div class="sd-compare-wait">waiting for the video…</div>';
    }
    if (item.ready) media.querySelector(".sd-compare-wait")?.remove();
  }

  function draw() {
    const all = items();
    const votes = model.get("votes");
    const posters = model.get("_posters");
    grid.style.setProperty("--sd-cols", String(columns(all.length)));
    el.classList.toggle("sd-blind-mode", model.get("blind"));
    const keep = new Set();
    all.forEach((item, index) => {
      let cell = cells.get(item.key);
      if (!cell) { cell = makeCell(item); cells.set(item.key, cell); }
      fillCell(cell, item, index, votes, posters);
      grid.appendChild(cell); // appending in order also moves a shuffled cell into place
      keep.add(item.key);
    });
    for (const [key, cell] of cells) {
      if (!keep.has(key)) { cell.remove(); cells.delete(key); }
    }
    help.textContent = KEYS_HELP.replace("{n}", String(all.length));
    drawBar();
    showFrame();
  }

  function drawBar() {
    bar.querySelector(".sd-loop").checked = model.get("loop");
    bar.querySelector(".sd-blind").checked = model.get("blind");
    undo.disabled = !model.get("can_undo");
    note.textContent = model.get("note");
    showError(model.get("error"));
  }

  function drawVotes() {
    const votes = model.get("votes");
    items().forEach((item, index) => {
      const span = cells.get(item.key)?.querySelector(".sd-votes");
      if (span) span.textContent = plural(votes[index] || 0);
    });
  }

  function drawLoop() {
    videos().forEach((v) => { v.loop = model.get("loop"); });
    drawBar();
  }

  function onKey(event) {
    const tag = event.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key === ",") step(-1);
    else if (key === ".") step(1);
    else if (key === "u" || key === "U") ballot("_undo", {});
    else if (key === " " || key === "k") {
      if (tag === "VIDEO" && key === " ") return; // the video's own control does it
      if (videos().some((v) => v.paused)) playAll(); else pauseAll();
    } else if (/^[1-9]$/.test(key) && Number(key) <= items().length) vote(Number(key) - 1);
    else return;
    event.preventDefault();
    event.stopPropagation();
  }

  play.onclick = playAll;
  pause.onclick = pauseAll;
  back.onclick = () => step(-1);
  next.onclick = () => step(1);
  undo.onclick = () => ballot("_undo", {});
  bar.querySelector(".sd-loop").onchange = (e) => {
    model.set("loop", e.target.checked);
    model.save_changes();
  };
  bar.querySelector(".sd-blind").onchange = (e) => {
    model.set("blind", e.target.checked);
    model.save_changes();
  };
  el.addEventListener("keydown", onKey);
  model.on("change:items", draw);
  model.on("change:votes", drawVotes);
  model.on("change:loop", drawLoop);
  model.on("change:blind", drawBar);
  model.on("change:can_undo", drawBar);
  model.on("change:note", drawBar);
  model.on("change:error", drawBar);
  draw();
  return () => {
    alive = false;
    gone.abort();
    el.removeEventListener("keydown", onKey);
    model.off("change:items", draw);
    model.off("change:votes", drawVotes);
    model.off("change:loop", drawLoop);
    model.off("change:blind", drawBar);
    model.off("change:can_undo", drawBar);
    model.off("change:note", drawBar);
    model.off("change:error", drawBar);
    urls.forEach((url) => URL.revokeObjectURL(url));
    for (const video of grid.querySelectorAll("video")) {
      if (video.poster.startsWith("blob:")) URL.revokeObjectURL(video.poster);
    }
  };
}

export default { render };
