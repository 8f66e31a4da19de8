// The shared A/B page: every video plays, pauses, seeks and steps a frame in step.
(() => {
  const root = document.querySelector(".sd-compare-export");
  const videos = [...root.querySelectorAll("video")];
  const fps = Number(videos[0]?.dataset.fps) || 24;
  let syncing = false;

  function follow(source, action) {
    if (syncing) return;
    syncing = true;
    for (const other of videos) {
      if (other === source) continue;
      if (action === "seek" && Math.abs(other.currentTime - source.currentTime) > 0.05) {
        other.currentTime = source.currentTime;
      }
      if (action === "play" && other.paused) other.play().catch(() => {});
      if (action === "pause" && !other.paused) other.pause();
    }
    syncing = false;
  }

  function step(direction) {
    if (!videos.length) return;
    videos.forEach((v) => v.pause());
    const frame = Math.max(0, Math.floor(videos[0].currentTime * fps + 1e-3) + direction);
    videos.forEach((v) => { v.currentTime = (frame + 0.5) / fps; });
  }

  for (const video of videos) {
    video.addEventListener("play", () => follow(video, "play"));
    video.addEventListener("pause", () => follow(video, "pause"));
    video.addEventListener("seeked", () => follow(video, "seek"));
  }
  root.querySelector(".sd-play").onclick = () => videos.forEach((v) => v.play().catch(() => {}));
  root.querySelector(".sd-pause").onclick = () => videos.forEach((v) => v.pause());
  root.querySelector(".sd-back").onclick = () => step(-1);
  root.querySelector(".sd-next").onclick = () => step(1);
  root.addEventListener("keydown", (event) => {
    if (event.key === ",") step(-1);
    else if (event.key === ".") step(1);
    else if (event.key === " " && event.target.tagName !== "VIDEO") {
      if (videos.some((v) => v.paused)) videos.forEach((v) => v.play().catch(() => {}));
      else videos.forEach((v) => v.pause());
    } else return;
    event.preventDefault();
  });
})();
