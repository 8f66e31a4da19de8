// TaskView: a live card for one job. All logic lives in Python; this only draws the state,
// ticks the clock between updates, and turns the video bytes into a blob URL.

function fmt(seconds) {
  if (!isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

function render({ model, el }) {
  el.classList.add("sd-task");
  el.innerHTML = `
    <div class="sd-head">
      <span class="sd-chip"></span>
      <span class="sd-title"></span>
      <span class="sd-credits"></span>
    </div>
    <div class="sd-prompt"></div>
    <div class="sd-bar"><div class="sd-fill"></div></div>
    <div class="sd-times"></div>
    <div class="sd-error"></div>
    <div class="sd-warning"></div>
    <div class="sd-media"></div>`;
  const $ = (sel) => el.querySelector(sel);
  let videoUrl = null;
  let posterUrl = null;
  let requested = null;
  let nextId = 1;

  function draw() {
    const status = model.get("status");
    const chip = $(".sd-chip");
    chip.textContent = status;
    chip.className = `sd-chip sd-${status.toLowerCase()}`;
    const label = model.get("label");
    $(".sd-title").textContent =
      `#${model.get("job_id")} ${label ? label + " · " : ""}${model.get("mode")} · ${model.get("model")}`;
    const used = model.get("credits_used");
    $(".sd-credits").textContent = used >= 0
      ? `${used} credits`
      : `~${model.get("estimated_credits")} credits (estimate)`;
    $(".sd-prompt").textContent = model.get("prompt");
    const error = model.get("error");
    $(".sd-error").textContent = error;
    $(".sd-error").style.display = error ? "block" : "none";
    const warning = model.get("warning");
    $(".sd-warning").textContent = warning;
    $(".sd-warning").style.display = warning ? "block" : "none";
    el.classList.toggle("sd-failed", model.get("failed"));
    tick();
    showVideo();
  }

  function tick() {
    const status = model.get("status");
    const sent = model.get("sent_at");
    const finished = model.get("finished_at");
    const predicted = model.get("predicted_seconds");
    const done = model.get("final");
    const now = Date.now() / 1000;
    const elapsed = sent ? Math.max(0, (finished || now) - sent) : 0;
    let fraction = done ? 1 : predicted > 0 ? Math.min(0.97, elapsed / predicted) : 0;
    $(".sd-fill").style.width = `${(fraction * 100).toFixed(1)}%`;
    $(".sd-bar").classList.toggle("sd-indeterminate", !done && sent > 0 && !(predicted > 0));
    let text;
    if (sent) text = `elapsed ${fmt(elapsed)}`;
    else if (done) text = "ended before it was sent";
    else text = "waiting in the local queue";
    if (!done && sent && predicted > 0) text += ` · eta ${fmt(predicted - elapsed)}`;
    if (status === "DOWNLOADING") text += " · saving the video…";
    $(".sd-times").textContent = text;
  }

  function showVideo() {
    const name = model.get("video_name");
    const media = $(".sd-media");
    if (!name) return;
    const poster = model.get("_poster");
    if (!posterUrl && poster && poster.byteLength) {
      posterUrl = URL.createObjectURL(new Blob([poster], { type: "image/jpeg" }));
    }
    if (!media.firstChild) {
      media.innerHTML = `<video controls loop muted playsinline preload="auto"></video>
        <a class="sd-download" download="${name}">download ${name}</a>`;
      if (posterUrl) media.querySelector("video").poster = posterUrl;
    }
    if (!videoUrl && requested === null) {
      requested = nextId++;
      model.send({ type: "get-video", id: requested });
    }
  }

  function onMessage(msg, buffers) {
    if (!msg || msg.id !== requested) return;
    if (msg.type === "error") {
      $(".sd-error").textContent = `video: ${msg.message}`;
      $(".sd-error").style.display = "block";
      requested = null;
      return;
    }
    if (msg.type === "video" && buffers && buffers.length) {
      const data = buffers[0].buffer ? buffers[0] : new Uint8Array(buffers[0]);
      videoUrl = URL.createObjectURL(new Blob([data], { type: "video/mp4" }));
      const video = $(".sd-media video");
      video.src = videoUrl;
      $(".sd-download").href = videoUrl;
    }
  }

  model.on("change", draw);
  model.on("msg:custom", onMessage);
  const timer = setInterval(tick, 250);
  draw();
  return () => {
    clearInterval(timer);
    model.off("change", draw);
    model.off("msg:custom", onMessage);
    if (videoUrl) URL.revokeObjectURL(videoUrl);
    if (posterUrl) URL.revokeObjectURL(posterUrl);
  };
}

export default { render };
