// Storyboard: a long shot as a strip of shot cards with a badge on every seam, the credits
// against the plan, and the stitched video. All logic lives in Python; this only draws.
// The video comes through `request` (request.js, prepended by the Python side).

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function render({ model, el: root, experimental }) {
  root.classList.add("sd-story");
  const head = el("div", "sd-story-head");
  const strip = el("div", "sd-story-strip");
  const reason = el("div", "sd-story-reason");
  const media = el("div", "sd-story-media");
  root.append(head, strip, reason, media);
  const urls = [];
  let videoUrl = null;
  let videoFor = "";
  const gone = new AbortController();

  function posterUrl(bytes) {
    if (!bytes || !bytes.byteLength) return null;
    const data = bytes.buffer ? bytes : new Uint8Array(bytes);
    const url = URL.createObjectURL(new Blob([data], { type: "image/jpeg" }));
    urls.push(url);
    return url;
  }

  function draw() {
    while (urls.length) URL.revokeObjectURL(urls.pop());
    const budget = model.get("budget");
    const spent = model.get("spent");
    const planned = model.get("planned");
    head.textContent = "";
    head.append(
      el("span", "sd-story-name", model.get("name")),
      el("span", `sd-story-state sd-state-${model.get("state")}`, model.get("state")),
      el(
        "span",
        "sd-story-credits",
        `${spent} of ~${planned} credits planned` + (budget >= 0 ? ` · budget ${budget}` : ""),
      ),
    );
    const meter = el("div", "sd-story-meter");
    const fill = el("div", "sd-story-fill");
    fill.style.width = `${Math.min(100, (100 * spent) / Math.max(1, planned)).toFixed(1)}%`;
    fill.classList.toggle("sd-over", spent > planned);
    meter.append(fill);
    head.append(meter);

    const seams = new Map(model.get("seams").map((s) => [s.shot, s]));
    strip.textContent = "";
    for (const shot of model.get("shots")) {
      const seam = seams.get(shot.n);
      if (shot.n > 1) {
        const badge = el("div", `sd-seam sd-seam-${seam ? seam.verdict : "unmeasured"}`);
        badge.textContent = seam ? seam.verdict : "·";
        if (seam) {
          badge.title =
            `SSIM ${seam.ssim.toFixed(3)} · luma jump ${seam.luma_jump} · ` +
            `chroma jump ${seam.chroma_jump} · motion ratio ${seam.motion_ratio} · ` +
            `drift ${seam.drift}`;
        }
        strip.append(badge);
      }
      const card = el("div", `sd-shot sd-tone-${shot.tone}`);
      const url = posterUrl(shot.poster);
      const picture = el("div", "sd-shot-picture");
      if (url) picture.style.backgroundImage = `url(${url})`;
      else picture.textContent = shot.status === "PLANNED" ? "planned" : shot.status;
      const credits = shot.credits >= 0 ? `${shot.credits} cr` : `~${shot.estimated} cr`;
      card.append(
        picture,
        el("div", "sd-shot-title", `#${shot.n} · ${shot.seconds}s · ${shot.mode}`),
        el("div", "sd-shot-prompt", shot.prompt),
        el(
          "div",
          "sd-shot-meta",
          `${shot.status}${shot.take > 1 ? ` · take ${shot.take}` : ""} · ${credits}`,
        ),
      );
      strip.append(card);
    }
    reason.textContent = model.get("reason");
    reason.style.display = model.get("reason") ? "block" : "none";
    showVideo();
  }

  async function showVideo() {
    const name = model.get("video_name");
    if (!name) {
      media.textContent = "";
      return;
    }
    const key = `${name}:${model.get("video_size")}`;
    if (key === videoFor) return;
    videoFor = key;
    media.textContent = "";
    const video = el("video");
    Object.assign(video, { controls: true, loop: true, muted: true, playsInline: true });
    const caption = el("div", "sd-story-caption", `${name} (${model.get("stitch_method")})`);
    media.append(video, caption);
    try {
      const [reply, buffers] = await request(model, experimental, "_video", {}, {
        retries: 4,
        cancel: gone.signal,
        onSlow: () => { caption.textContent = `${name}: loading… (waiting for the kernel)`; },
      });
      if (gone.signal.aborted || key !== videoFor) return;
      if (!reply || !reply.ok || !buffers || !buffers.length) {
        reason.textContent = `video: ${(reply && reply.error) || "no data"}`;
        reason.style.display = "block";
        return;
      }
      if (videoUrl) URL.revokeObjectURL(videoUrl);
      videoUrl = URL.createObjectURL(new Blob([buffers[0]], { type: "video/mp4" }));
      video.src = videoUrl;
      caption.textContent = `${name} (${model.get("stitch_method")})`;
      video.play().catch(() => {});
    } catch (exc) {
      if (!gone.signal.aborted) {
        reason.textContent = `video: ${exc}`;
        reason.style.display = "block";
      }
    }
  }

  model.on("change", draw);
  draw();
  return () => {
    gone.abort();
    model.off("change", draw);
    while (urls.length) URL.revokeObjectURL(urls.pop());
    if (videoUrl) URL.revokeObjectURL(videoUrl);
  };
}

export default { render };
