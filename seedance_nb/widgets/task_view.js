// TaskView: a live card for one job. All logic lives in Python; this only draws the state,
// ticks the clock between updates, and shows the video: from the Jupyter server's URL for the
// file where there is one (`playServed`, served.js), else its bytes as a blob URL, through
// `request` (request.js) or, where the Python side pushes them (`push_video`: marimo, which
// answers requests only between cells), in `_video_data`. Both helpers are prepended.

function fmt(seconds) {
  if (!isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

function render({ model, el, experimental }) {
  el.classList.add("sd-task");
  el.innerHTML = `
    <div class="sd-head">
      <span class="sd-chip"></span>
      <span class="sd-title"></span>
      <span class="sd-credits"></span>
    </div>
    <div class="sd-reused" role="status"></div>
    <div class="sd-prompt"></div>
    <div class="sd-bar"><div class="sd-fill"></div></div>
    <div class="sd-times"></div>
    <div class="sd-error"></div>
    <div class="sd-warning"></div>
    <div class="sd-media"></div>
    <div class="sd-view-error" role="alert"></div>`;
  const $ = (sel) => el.querySelector(sel);
  const gone = new AbortController();
  let videoUrl = null; // where the video plays from: the server's URL or a blob URL
  let blobUrl = null;
  let posterUrl = null;
  let asking = false;
  let servedTried = false; // the server's URL is tried once; if it fails, the kernel is asked
  let shownReused = model.get("reused");

  function show(sel, text) {
    $(sel).textContent = text || "";
    $(sel).style.display = text ? "block" : "none";
  }

  function draw() {
    const chip = $(".sd-chip");
    chip.textContent = model.get("status");
    chip.className = `sd-chip sd-tone-${model.get("tone")}`;
    const label = model.get("label");
    $(".sd-title").textContent =
      `#${model.get("job_id")} ${label ? label + " · " : ""}${model.get("mode")} · ${model.get("model")}`;
    $(".sd-credits").textContent = model.get("credits_text");
    $(".sd-prompt").textContent = model.get("prompt");
    show(".sd-error", model.get("error"));
    show(".sd-warning", model.get("warning"));
    show(".sd-view-error", model.get("view_error"));
    show(".sd-reused", model.get("reused") ? "reused: nothing spent" : "");
    el.classList.toggle("sd-bad", model.get("no_video"));
    tick();
    showVideo();
  }

  function flashReused() {
    draw();
    if (model.get("reused") === shownReused) return;
    shownReused = model.get("reused");
    el.classList.remove("sd-flash");
    void el.offsetWidth; // restart the animation
    el.classList.add("sd-flash");
  }

  function tick() {
    const sent = model.get("sent_at");
    const finished = model.get("finished_at");
    const predicted = model.get("predicted_seconds");
    const rendered = model.get("render_seconds");
    const done = model.get("final");
    const now = Date.now() / 1000;
    const elapsed = sent ? Math.max(0, (finished || now) - sent) : 0;
    const fraction = done ? 1 : predicted > 0 ? Math.min(0.97, elapsed / predicted) : 0;
    $(".sd-fill").style.width = `${(fraction * 100).toFixed(1)}%`;
    $(".sd-bar").classList.toggle("sd-indeterminate", !done && sent > 0 && !(predicted > 0));
    let text;
    if (done && rendered > 0 && !model.get("no_video")) text = `rendered in ${fmt(rendered)}`;
    else if (done && model.get("refused")) text = "refused by the server: nothing charged";
    else if (done && !sent) text = "ended before it was sent";
    else if (sent) text = `elapsed ${fmt(elapsed)}`;
    else text = "waiting in the local queue";
    if (!done && sent && predicted > 0) {
      // past the median the ETA would read 0 s: say "any moment", with the p90 still ahead
      const p90 = model.get("p90_seconds") - elapsed;
      if (predicted - elapsed >= 0.5) text += ` · eta ${fmt(predicted - elapsed)}`;
      else text += p90 >= 0.5 ? ` · eta any moment (p90 ${fmt(p90)})` : " · eta any moment";
    }
    if (model.get("saving")) text += " · saving the video…";
    $(".sd-times").textContent = text;
  }

  function setPoster(video) {
    const poster = model.get("_poster");
    if (!posterUrl && poster && poster.byteLength) {
      posterUrl = URL.createObjectURL(new Blob([poster], { type: "image/jpeg" }));
    }
    if (posterUrl && video) video.poster = posterUrl;
  }

  function showBlob(blob) {
    if (blobUrl) URL.revokeObjectURL(blobUrl);
    blobUrl = videoUrl = URL.createObjectURL(blob);
    $(".sd-media video").src = videoUrl;
    $(".sd-download").href = videoUrl;
    $(".sd-loading").style.display = "none";
  }

  async function showVideo() {
    const name = model.get("video_name");
    const media = $(".sd-media");
    if (!name) return;
    if (!media.firstChild) {
      const video = document.createElement("video");
      Object.assign(video, { controls: true, loop: true, muted: true, playsInline: true });
      video.preload = "auto";
      const loading = document.createElement("div");
      loading.className = "sd-loading";
      loading.textContent = "loading the video…";
      const link = document.createElement("a");
      link.className = "sd-download";
      link.download = name; // a file name is text: never markup
      link.textContent = `download ${name}`;
      media.append(video, loading, link);
    }
    const video = media.querySelector("video");
    setPoster(video);
    if (videoUrl || asking) return;
    const loading = $(".sd-loading");
    loading.style.display = "block";
    if (!servedTried) {
      servedTried = true;
      const fallback = () => {
        videoUrl = null;
        showVideo(); // the kernel, then
      };
      videoUrl = playServed(video, model.get("video_path"), fallback);
      if (videoUrl) {
        video.addEventListener("loadeddata", () => {
          if (video.src === videoUrl) loading.style.display = "none";
        }, { once: true });
        $(".sd-download").href = videoUrl;
        return;
      }
    }
    if (model.get("push_video")) {
      const pushed = model.get("_video_data");
      if (pushed && pushed.byteLength) showBlob(new Blob([pushed], { type: "video/mp4" }));
      return; // otherwise it is on its way: the next change brings it
    }
    asking = true;
    try {
      const [reply, buffers] = await request(model, experimental, "_video", {}, {
        retries: 4,
        cancel: gone.signal,
        onSlow: () => { loading.textContent = "loading the video… (waiting for the kernel)"; },
      });
      if (gone.signal.aborted) return;
      if (!reply || !reply.ok || !buffers || !buffers.length) {
        show(".sd-view-error", `video: ${(reply && reply.error) || "no data"}`);
        return;
      }
      showBlob(new Blob([buffers[0]], { type: "video/mp4" }));
    } catch (exc) {
      if (!gone.signal.aborted) show(".sd-view-error", `video: ${exc}`);
    } finally {
      asking = false;
    }
  }

  model.on("change", draw);
  model.on("change:reused", flashReused);
  const timer = setInterval(tick, 250);
  draw();
  return () => {
    gone.abort();
    clearInterval(timer);
    model.off("change", draw);
    model.off("change:reused", flashReused);
    if (blobUrl) URL.revokeObjectURL(blobUrl);
    if (posterUrl) URL.revokeObjectURL(posterUrl);
  };
}

export default { render };
