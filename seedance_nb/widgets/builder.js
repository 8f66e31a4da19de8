// RequestBuilder: the form. It holds no rules: every field goes to Python as a trait, each
// action (a file with its bytes, a reference, a removal, Generate) as one request through the
// shared `request` helper, and Python answers with the price, the budget and what is wrong.

const LABELS = {
  "text-to-video": "Text",
  "image-to-video": "Image",
  keyframes: "First & last",
  reference: "Reference",
};
const INPUTS = {
  "text-to-video": ["resolution"],
  "image-to-video": ["image"],
  keyframes: ["first", "last"],
  reference: ["images", "videos", "audios", "resolution"],
};
const TITLES = {
  image: "Image", first: "First frame", last: "Last frame",
  images: "Images", videos: "Videos", audios: "Audio files",
};
const KIND = {
  image: "image", first: "image", last: "image", images: "image", videos: "video", audios: "audio",
};
const UPSCALE = [["none", ""], ["2k", "2k"], ["4k", "4k"]];

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function choices(name, options, get, set) {
  // a row of toggle buttons, one pressed
  const row = h("div", { class: "sd-choices", role: "group", "aria-label": name });
  const buttons = options.map(([text, value]) => {
    const button = h("button", { type: "button", onclick: () => set(value) }, text);
    button.dataset.value = value;
    row.append(button);
    return button;
  });
  row.draw = () => {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.value === get()));
  };
  return row;
}

function aspect(resolution, selected) {
  // one resolution drawn to scale, filled when selected
  const [w, hgt] = resolution.split("x").map(Number);
  const s = 28 / Math.max(w, hgt);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", "34");
  svg.setAttribute("height", "34");
  const rect = document.createElementNS(ns, "rect");
  for (const [k, v] of Object.entries({
    x: (34 - w * s) / 2, y: (34 - hgt * s) / 2, width: w * s, height: hgt * s, rx: 2,
  })) rect.setAttribute(k, String(v));
  rect.setAttribute("class", selected ? "sd-on" : "");
  svg.append(rect);
  return svg;
}

function render({ model, el, experimental }) {
  const options = model.get("options");
  const set = (key, value) => { model.set(key, value); model.save_changes(); };
  const gone = new AbortController();
  const busy = h("span", { class: "sd-busy" });
  async function act(msg, buffers = []) {
    // one action, one reply; "working…" if the kernel is slow to answer
    try {
      const [reply] = await request(model, experimental, "_act", msg, {
        buffers, cancel: gone.signal, onSlow: () => { busy.textContent = "working…"; },
      });
      return reply;
    } catch (error) {
      if (!gone.signal.aborted) busy.textContent = `${msg.type}: ${error}`;
      return null;
    } finally {
      if (busy.textContent === "working…") busy.textContent = "";
    }
  }
  el.classList.add("sd-builder");

  const mode = choices("mode", options.modes.map((m) => [LABELS[m] || m, m]),
    () => model.get("mode"), (v) => set("mode", v));
  const prompt = h("textarea", {
    placeholder: "Describe the video…", "aria-label": "prompt", rows: "3",
    oninput: () => set("prompt", prompt.value),
  });
  const count = h("small", { class: "sd-count" });
  const seconds = h("input", {
    type: "range", min: "4", max: "15", step: "1", "aria-label": "seconds",
    oninput: () => set("duration", Number(seconds.value)),
  });
  const secondsText = h("span", { class: "sd-value" });
  const resolution = choices("resolution", options.resolutions.map((r) => [r, r]),
    () => model.get("resolution"), (v) => set("resolution", v));
  const shapes = h("div", { class: "sd-aspects" });
  const resolutionBox = h("div", { class: "sd-field", "data-input": "resolution" },
    h("b", {}, "resolution"), resolution, shapes);
  const modelRow = choices("model", options.models.map((m) => [m, m]),
    () => model.get("model"), (v) => set("model", v));
  const upscale = choices("upscale", UPSCALE, () => model.get("upscale"),
    (v) => set("upscale", v));
  const media = Object.fromEntries(Object.keys(TITLES).map((name) => [name, picker(name)]));
  const fields = h("div", { class: "sd-fields" });
  const label = h("input", {
    type: "text", placeholder: "label (optional)", "aria-label": "label",
    oninput: () => set("label", label.value),
  });
  const generate = h("button", {
    type: "button", class: "sd-generate",
    onclick: () => { generate.disabled = true; act({ type: "generate" }).then(draw); },
  }, "Generate");
  const newTake = h("button", {
    type: "button", title: "another sample of the same request (Generate again reuses it)",
    onclick: () => { newTake.disabled = true; act({ type: "new-take" }).then(draw); },
  }, "New take");
  const takes = h("span", { class: "sd-takes" });
  const estimate = h("span", { class: "sd-estimate" });
  const notice = h("div", { class: "sd-notice" });
  const message = h("div", { class: "sd-message", role: "status" });
  const cards = h("div", { class: "sd-cards" });

  el.replaceChildren(
    mode,
    h("div", { class: "sd-field", "data-input": "prompt" }, prompt, count),
    h("div", { class: "sd-row" }, h("b", {}, "seconds"), seconds, secondsText),
    fields,
    h("div", { class: "sd-row" }, h("b", {}, "model"), modelRow),
    h("div", { class: "sd-row" }, h("b", {}, "upscale"), upscale),
    h("div", { class: "sd-row" }, label, generate, newTake, takes, estimate, busy),
    message,
    notice,
    cards,
  );

  function picker(name) {
    // upload files or name one already on a server; each pick listed, removable
    const kind = KIND[name];
    const multiple = name.endsWith("s");
    const file = h("input", {
      type: "file", accept: `${kind}/*`, hidden: "", "aria-label": TITLES[name],
      onchange: async () => {
        for (const f of file.files) {
          busy.textContent = `reading ${f.name}…`;
          const data = await f.arrayBuffer();
          busy.textContent = "";
          await act({ type: "file", input: name, name: f.name }, [data]);
        }
        file.value = "";
      },
    });
    if (multiple) file.multiple = true;
    const button = h("button", { type: "button", onclick: () => file.click() });
    const listId = `sd-files-${name}-${Math.random().toString(36).slice(2)}`;
    const ref = h("input", {
      type: "text", list: listId, "aria-label": `${TITLES[name]} reference`,
      placeholder: `or https://…, asset://… or ${kind === "image" ? "an" : "a"} ${kind} ` +
        "on this server",
      onkeydown: (e) => { if (e.key === "Enter") add(); },
      onchange: () => { if ((options.files[kind] || []).includes(ref.value)) add(); },
    });
    const list = h("datalist", { id: listId },
      ...(options.files[kind] || []).map((p) => h("option", { value: p })));
    const add = () => {
      if (!ref.value.trim()) return;
      act({ type: "ref", input: name, text: ref.value });
      ref.value = "";
    };
    const picked = h("div", { class: "sd-picked-list" });
    const box = h("div", { class: "sd-field sd-media-input", "data-input": name },
      h("div", { class: "sd-row" }, button, file, ref, list,
        h("button", { type: "button", title: "add this reference", onclick: add }, "add")),
      picked);
    box.draw = () => {
      const picks = (model.get("picks") || {})[name] || [];
      button.textContent = `${TITLES[name]} (${picks.filter((p) => p.upload).length})`;
      picked.replaceChildren(...picks.map((p, index) => {
        const row = h("div", { class: "sd-picked" },
          h("button", {
            type: "button", class: "sd-remove", title: `remove ${p.name}`,
            "aria-label": `remove ${p.name}`,
            onclick: () => act({ type: "remove", input: name, index }),
          }, "×"));
        if (p.thumb) row.append(h("img", { class: "sd-thumb", src: p.thumb, alt: "" }));
        row.append(h("span", { class: "sd-picked-name" }, p.name));
        return row;
      }));
    };
    return box;
  }

  function draw() {
    const focused = el.getRootNode().activeElement;  // inside marimo's shadow root too
    mode.draw(); resolution.draw(); modelRow.draw(); upscale.draw();
    if (focused !== prompt && prompt.value !== model.get("prompt")) {
      prompt.value = model.get("prompt");
    }
    if (focused !== label && label.value !== model.get("label")) {
      label.value = model.get("label");
    }
    count.textContent = `${model.get("prompt").length} characters`;
    seconds.value = String(model.get("duration"));
    secondsText.textContent = `${model.get("duration")} s`;
    shapes.replaceChildren(...options.resolutions.map(
      (r) => aspect(r, r === model.get("resolution"))));
    fields.replaceChildren(...INPUTS[model.get("mode")].map(
      (n) => (n === "resolution" ? resolutionBox : media[n])));
    for (const box of Object.values(media)) box.draw();

    const valid = model.get("valid");
    generate.disabled = !valid;
    newTake.disabled = !valid;
    const n = model.get("takes");
    takes.textContent = n ? `${n} take${n === 1 ? "" : "s"}` : "";
    const price = model.get("price");
    const note = model.get("price_note");
    const left = model.get("left");
    estimate.replaceChildren();
    if (price >= 0) {
      estimate.append(h("b", {}, `${note ? "~" : ""}${price} credits`));
      if (left >= 0) {
        estimate.append(` · ${left} left of the '${model.get("experiment")}' budget`);
      }
      if (note) estimate.append(" ", h("small", { class: "sd-stale" }, `(${note})`));
    } else {
      estimate.append(h("b", {}, "– credits"));
    }
    notice.textContent = model.get("notice");
    const text = model.get("message");
    const hint = model.get("hint");
    message.textContent = text || hint;
    message.className = `sd-message ${text ? "sd-invalid" : hint ? "sd-hint" : ""}`;
    const field = text ? model.get("field").replace(/\[.*$/, "") : "";
    for (const node of el.querySelectorAll("[data-input]")) {
      node.classList.toggle("sd-bad", node.dataset.input === field);
    }
  }

  // the cards of the jobs this builder made, drawn by the card's own module
  const shown = new Map();
  let cardModule = null;
  async function drawCards() {
    const ids = model.get("cards") || [];
    if (!cardModule) {
      const url = URL.createObjectURL(
        new Blob([model.get("_card_esm")], { type: "text/javascript" }));
      cardModule = (await import(url)).default;
      el.prepend(h("style", {}, model.get("_card_css")));
    }
    for (const ref of ids) {
      if (shown.has(ref)) continue;
      const host = h("div", { class: "sd-card-host" });
      shown.set(ref, null);
      cards.append(host);
      try {
        const child = await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""));
        // no `experimental` here: that would send the card's requests to the builder; the
        // card's own model carries them (the shared helper's message path)
        shown.set(ref, cardModule.render({ model: child, el: host }));
      } catch (error) {
        host.textContent = `card: ${error}`;
      }
    }
  }

  function seeJobs() {
    // echo what Python made: in marimo a change from the form re-runs the cells that read it
    const n = (model.get("job_ids") || []).length;
    if (model.get("seen") !== n) set("seen", n);
  }

  model.on("change", draw);
  model.on("change:cards", drawCards);
  model.on("change:job_ids", seeJobs);
  draw();
  if ((model.get("cards") || []).length) drawCards();
  return () => {
    gone.abort();
    model.off("change", draw);
    model.off("change:cards", drawCards);
    model.off("change:job_ids", seeJobs);
    for (const cleanup of shown.values()) if (typeof cleanup === "function") cleanup();
  };
}

export default { render };
