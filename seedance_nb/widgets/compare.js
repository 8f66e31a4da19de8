// Compare: videos side by side that play, pause, seek and loop together; a vote per video.

function render({ model, el }) {
  el.classList.add("sd-compare");
  const urls = new Map();
  const asked = new Set();
  let syncing = false;

  function videos() {
    return [...el.querySelectorAll("video")];
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

  function draw() {
    const items = model.get("items");
    const votes = model.get("votes");
    const posters = model.get("_posters");
    el.innerHTML = "";
    const bar = document.createElement("div");
    bar.className = "sd-compare-bar";
    bar.innerHTML = `<button class="sd-play">play all</button>
      <button class="sd-pause">pause all</button>
      <label><input type="checkbox" class="sd-loop"> loop</label>`;
    el.appendChild(bar);
    bar.querySelector(".sd-loop").checked = model.get("loop");
    bar.querySelector(".sd-play").onclick = () => {
      const first = videos()[0];
      if (first) { first.play().catch(() => {}); follow(first, "play"); }
    };
    bar.querySelector(".sd-pause").onclick = () => videos().forEach((v) => v.pause());
    bar.querySelector(".sd-loop").onchange = (e) => {
      model.set("loop", e.target.checked);
      model.save_changes();
    };
    const grid = document.createElement("div");
    grid.className = "sd-compare-grid";
    grid.style.gridTemplateColumns = `repeat(${Math.min(items.length, 3)}, 1fr)`;
    items.forEach((item, index) => {
      const cell = document.createElement("div");
      cell.className = "sd-compare-cell";
      const credits = item.credits !== null && item.credits !== undefined
        ? `${item.credits} credits` : `~${item.estimate} credits`;
      const render = item.render_s ? ` · rendered in ${item.render_s.toFixed(1)} s` : "";
      cell.innerHTML = `<div class="sd-compare-label"></div>
        <div class="sd-compare-media"></div>
        <div class="sd-compare-prompt"></div>
        <div class="sd-compare-meta">${item.model} · ${credits}${render}</div>
        <button class="sd-prefer">prefer</button>
        <span class="sd-votes">${votes[String(item.id)] || 0} votes</span>`;
      cell.querySelector(".sd-compare-label").textContent = `${item.label} · ${item.status}`;
      const prompt = cell.querySelector(".sd-compare-prompt");
      for (const [word, differs] of item.words) {
        const span = document.createElement(differs ? "mark" : "span");
        span.textContent = word;
        prompt.appendChild(span);
      }
      cell.querySelector(".sd-prefer").onclick = () => model.send({ type: "vote", index });
      cell.querySelector(".sd-prefer").disabled = !item.ready;
      if (item.ready) {
        const video = document.createElement("video");
        video.muted = true;
        video.controls = true;
        video.playsInline = true;
        video.loop = model.get("loop");
        const poster = posters[index];
        if (poster && poster.byteLength) {
          video.poster = URL.createObjectURL(new Blob([poster], { type: "image/jpeg" }));
        }
        if (urls.has(index)) video.src = urls.get(index);
        else if (!asked.has(index)) { asked.add(index); model.send({ type: "get-video", index }); }
        video.addEventListener("play", () => follow(video, "play"));
        video.addEventListener("pause", () => follow(video, "pause"));
        video.addEventListener("seeked", () => follow(video, "seek"));
        cell.querySelector(".sd-compare-media").appendChild(video);
      }
      grid.appendChild(cell);
    });
    el.appendChild(grid);
  }

  function onMessage(msg, buffers) {
    if (msg.type === "video" && buffers && buffers.length) {
      urls.set(msg.index, URL.createObjectURL(new Blob([buffers[0]], { type: "video/mp4" })));
      const video = el.querySelectorAll(".sd-compare-cell")[msg.index]?.querySelector("video");
      if (video) video.src = urls.get(msg.index);
    } else if (msg.type === "error") {
      asked.delete(msg.index);
    }
  }

  function onLoop() {
    videos().forEach((v) => { v.loop = model.get("loop"); });
  }

  function updateVotes() {
    const votes = model.get("votes");
    model.get("items").forEach((item, index) => {
      const span = el.querySelectorAll(".sd-votes")[index];
      if (span) span.textContent = `${votes[String(item.id)] || 0} votes`;
    });
  }

  model.on("change:items", draw);
  model.on("change:votes", updateVotes);
  model.on("change:loop", onLoop);
  model.on("msg:custom", onMessage);
  draw();
  return () => {
    model.off("change:items", draw);
    model.off("change:votes", updateVotes);
    model.off("change:loop", onLoop);
    model.off("msg:custom", onMessage);
    urls.forEach((url) => URL.revokeObjectURL(url));
  };
}

export default { render };
