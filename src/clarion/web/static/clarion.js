// Clarion dashboard: live counters (SMS and voice), import progress, SMS preview,
// delivery chart, the create form's channel-specific fields.
// Plain JavaScript, no dependencies; every page works without it (reload to refresh).
"use strict";

(function () {
  const POLL_MS = 1000;
  const SVG = "http://www.w3.org/2000/svg";
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };
  const fmt = (n) => Number(n).toLocaleString("en-US");

  async function getJSON(url) {
    const response = await fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401) {
      window.location.assign("/?next=" + encodeURIComponent(window.location.pathname));
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  }

  // Confirmation for destructive buttons (stop, delete, revoke).
  document.addEventListener("submit", (event) => {
    const button = event.submitter || event.target.querySelector("[data-confirm]");
    const message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // --- delivery chart (inline SVG) -------------------------------------------------
  function drawChart(figure, timeline) {
    const area = figure.querySelector(".chart-area");
    const empty = figure.parentElement.querySelector(".empty-chart");
    const buckets = (timeline && timeline.buckets) || [];
    const good = figure.dataset.good || "delivered", bad = figure.dataset.bad || "failed";
    if (empty) empty.hidden = buckets.length > 0;
    area.textContent = "";
    if (!buckets.length) return;
    const width = 600, height = 180, pad = 24;
    const max = Math.max(1, ...buckets.map((b) => b.delivered + b.failed));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("focusable", "false");
    const slot = (width - pad) / buckets.length;
    const bar = Math.max(1, slot * 0.8);
    const scale = (height - pad) / max;
    const rect = (x, y, h, cls, label) => {
      const r = document.createElementNS(SVG, "rect");
      r.setAttribute("x", x.toFixed(1));
      r.setAttribute("y", y.toFixed(1));
      r.setAttribute("width", bar.toFixed(1));
      r.setAttribute("height", Math.max(0, h).toFixed(1));
      r.setAttribute("class", cls);
      r.setAttribute("fill", cls === "bar-good" ? "#1b7f3b" : "#b42318");
      const title = document.createElementNS(SVG, "title");
      title.textContent = label;
      r.appendChild(title);
      svg.appendChild(r);
    };
    buckets.forEach((b, i) => {
      const x = pad + i * slot;
      const when = new Date(b.t * 1000).toISOString().slice(11, 19) + " UTC";
      const hd = b.delivered * scale, hf = b.failed * scale;
      rect(x, height - pad - hd, hd, "bar-good", `${when}: ${b.delivered} ${good}`);
      rect(x, height - pad - hd - hf, hf, "bar-bad", `${when}: ${b.failed} ${bad}`);
    });
    const axis = document.createElementNS(SVG, "line");
    axis.setAttribute("x1", pad); axis.setAttribute("x2", width);
    axis.setAttribute("y1", height - pad); axis.setAttribute("y2", height - pad);
    axis.setAttribute("stroke", "#8c96a3");
    svg.appendChild(axis);
    const label = (text, x, y, anchor) => {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", x); t.setAttribute("y", y);
      t.setAttribute("font-size", "11"); t.setAttribute("fill", "#5b6470");
      t.setAttribute("text-anchor", anchor);
      t.textContent = text;
      svg.appendChild(t);
    };
    label(String(max), pad - 4, 12, "end");
    label(new Date(buckets[0].t * 1000).toISOString().slice(11, 19), pad, height - 6, "start");
    label(new Date(buckets[buckets.length - 1].t * 1000).toISOString().slice(11, 19), width, height - 6, "end");
    area.appendChild(svg);
  }

  // --- campaign page: live counters ------------------------------------------------
  function fillRows(root, name, rows, cells) {
    const body = root.querySelector(`tbody[data-voice="${name}"]`);
    if (!body) return;
    body.textContent = "";
    rows.forEach((row) => {
      const tr = body.insertRow();
      cells(row).forEach(([value, cls, badge]) => {
        const td = tr.insertCell();
        if (cls) td.className = cls;
        if (badge) {
          const span = document.createElement("span");
          span.className = "badge " + badge;
          span.textContent = value;
          td.appendChild(span);
        } else {
          td.textContent = value;
        }
      });
    });
    const empty = root.querySelector(`[data-empty="${name}"]`);
    if (empty) empty.hidden = rows.length > 0;
  }

  function applyVoice(root, v) {
    const set = (name, value) => {
      root.querySelectorAll(`[data-field="${name}"]`).forEach((el) => { el.textContent = value; });
    };
    ["recipients", "waiting", "in_progress", "answered", "unreached", "attempts",
      "recalls_waiting", "first_calls_waiting"].forEach((k) => set("voice_" + k, fmt(v[k])));
    set("voice_cost", v.cost);
    set("voice_lines", v.lines);
    set("voice_window_now", v.window_now);
    const lines = root.querySelector("#voice-lines");
    if (lines) { lines.value = v.in_progress; lines.textContent = v.lines; }
    v.outcomes.forEach((o) => {
      const row = root.querySelector(`tr[data-outcome="${o.outcome}"]`);
      if (!row) return;
      row.querySelector("[data-count]").textContent = fmt(o.count);
      row.querySelector("[data-share]").textContent = o.share;
    });
    fillRows(root, "recall_queue", v.recall_queue, (r) => [
      [r.phone], [String(r.attempts), "num"], [r.outcome], [r.due],
    ]);
    fillRows(root, "calls", v.calls, (r) => [
      [r.phone], [String(r.attempt), "num"], [r.label, "", "outcome-" + r.outcome], [r.start],
      [String(r.duration), "num"], [String(r.billsec), "num"], [r.cost, "num"], [r.agent],
      [r.abandoned],
    ]);
  }

  function applyCampaign(root, data) {
    const set = (name, value) => {
      root.querySelectorAll(`[data-field="${name}"]`).forEach((el) => { el.textContent = value; });
    };
    const s = data.summary;
    ["total", "pending", "in_flight", "delivered", "failed", "deleted"].forEach((k) => set(k, fmt(s[k])));
    set("percent", s.percent + "%");
    set("cost", data.cost);
    set("estimated_cost", data.estimated_cost);
    set("balance", data.balance);
    set("status_help", data.status_help);
    set("total_segments", fmt(data.total_segments));
    set("total_messages", fmt(Object.values(data.messages).reduce((a, b) => a + b, 0)));
    const progress = root.querySelector("#campaign-progress");
    if (progress) { progress.value = s.percent; progress.textContent = s.percent + "%"; }
    const badge = root.querySelector('[data-field="status_badge"] .badge');
    if (badge) {
      badge.className = "badge status-" + data.status.toLowerCase();
      badge.textContent = data.status_text;
    }
    root.dataset.status = data.status;
    Object.entries(data.messages).forEach(([status, count]) => {
      const cell = root.querySelector(`[data-messages="${status}"]`);
      if (cell) cell.textContent = fmt(count);
    });
    Object.entries(data.segments).forEach(([status, count]) => {
      const cell = root.querySelector(`[data-segments="${status}"]`);
      if (cell) cell.textContent = fmt(count);
    });
    data.offers.forEach((offer) => {
      const form = root.querySelector(`form[data-action="${offer.action}"]`);
      if (!form) return;
      form.hidden = !offer.visible;
      const button = form.querySelector("button");
      const why = form.querySelector(".why");
      button.disabled = !offer.allowed;
      if (offer.allowed) button.removeAttribute("aria-describedby");
      else button.setAttribute("aria-describedby", why.id);
      if (!button.classList.contains("danger")) button.classList.toggle("primary", offer.allowed);
      why.textContent = offer.reason;
      why.hidden = offer.allowed;
      const note = form.querySelector(".note");
      if (note) {
        note.textContent = offer.note || "";
        note.hidden = !(offer.allowed && offer.note);
        if (offer.allowed && offer.note) button.setAttribute("aria-describedby", note.id);
      }
    });
    if (data.voice) applyVoice(root, data.voice);
    const figure = root.querySelector("#timeline");
    if (figure) {
      set("bucket", data.timeline.bucket_seconds);
      drawChart(figure, data.timeline);
    }
  }

  function watchCampaign(root) {
    const url = root.dataset.liveUrl;
    let failures = 0;
    const tick = async () => {
      try {
        const data = await getJSON(url);
        failures = 0;
        applyCampaign(root, data);
        root.dataset.live = data.live ? "true" : "false";
      } catch (err) {
        failures += 1;
      }
      // Keep polling while anything can still move; slow down after errors.
      const delay = root.dataset.live === "true" ? POLL_MS : POLL_MS * 5;
      window.setTimeout(tick, Math.min(delay * (1 + failures), 30000));
    };
    const figure = root.querySelector("#timeline");
    if (figure) drawChart(figure, JSON.parse(figure.dataset.timeline || "{}"));
    window.setTimeout(tick, POLL_MS);
  }

  // --- recipients page: import progress --------------------------------------------
  function applyTask(section, task) {
    const set = (name, value) => {
      const el = section.querySelector(`[data-task="${name}"]`);
      if (el) el.textContent = value;
    };
    const bar = section.querySelector("#import-progress");
    bar.value = task.percent;
    bar.textContent = task.percent + "%";
    set("percent", task.percent + "%");
    set("status", task.status);
    set("done", fmt(task.done));
    set("total", task.total ? fmt(task.total) : "?");
    set("added", fmt(task.added));
    set("rejected", fmt(task.rejected));
    const error = section.querySelector('[data-task="error"]');
    error.textContent = task.error || "";
    error.hidden = !task.error;
    const report = section.querySelector('[data-task="report"]');
    report.hidden = !(task.finished && task.rejected > 0);
    const codes = section.querySelector('[data-task="codes"]');
    if (task.finished && task.codes.length && !codes.querySelector("table")) {
      const table = document.createElement("table");
      table.className = "codes";
      const caption = table.createCaption();
      caption.textContent = "Rejected rows by reason";
      const head = table.createTHead().insertRow();
      ["Code", "Reason", "Rows"].forEach((h) => {
        const th = document.createElement("th"); th.scope = "col"; th.textContent = h; head.appendChild(th);
      });
      const body = table.createTBody();
      task.codes.forEach((c) => {
        const row = body.insertRow();
        row.insertCell().textContent = c.code;
        row.insertCell().textContent = c.meaning;
        const n = row.insertCell(); n.className = "num"; n.textContent = fmt(c.count);
      });
      codes.appendChild(table);
    }
    section.dataset.finished = task.finished ? "true" : "false";
  }

  function watchTask(section) {
    const tick = async () => {
      try {
        const task = await getJSON(section.dataset.taskUrl);
        applyTask(section, task);
        if (task.finished) {
          // The recipient counts and forms on the page change with the import's end.
          if (section.dataset.reloaded !== "true") {
            const url = new URL(window.location.href);
            url.searchParams.set("task", task.id);
            window.location.replace(url.toString());
          }
          return;
        }
      } catch (err) { /* retried below */ }
      window.setTimeout(tick, 500);
    };
    if (section.dataset.finished !== "true") window.setTimeout(tick, 300);
  }

  // --- new campaign: SMS preview ---------------------------------------------------
  function watchPreview(form) {
    const text = form.querySelector("#text");
    const type = form.querySelector("#type");
    const country = form.querySelector("#preview_country");
    const bubble = form.querySelector("#preview-bubble");
    const out = (name, value) => {
      const el = form.querySelector(`[data-preview="${name}"]`);
      if (el) el.textContent = value;
    };
    let timer = 0, seq = 0;
    const update = async () => {
      const mine = ++seq;
      bubble.textContent = text.value || "Your message appears here.";
      try {
        const response = await fetch("/ui/preview.json", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
          body: JSON.stringify({ text: text.value, type: type.value, country: country.value }),
        });
        if (!response.ok || mine !== seq) return;
        const p = await response.json();
        out("encoding", p.encoding === "GSM7" ? "GSM-7" : "UCS-2 (Unicode)");
        out("segments", String(p.segments));
        out("length", `${p.units} of ${p.capacity} ${p.unit_name} (${p.remaining} left)`);
        out("price", p.price_text);
        out("placeholders", p.placeholders.length ? p.placeholders.map((n) => "{" + n + "}").join(", ") + " (length varies per recipient)" : "none");
        out("basis", "Price basis: " + p.basis + ".");
      } catch (err) { /* the form still works without a preview */ }
    };
    const soon = () => { window.clearTimeout(timer); timer = window.setTimeout(update, 150); };
    [text, country].forEach((el) => el.addEventListener("input", soon));
    type.addEventListener("change", soon);
    update();
  }

  // --- new campaign: show the fields of the chosen channel -----------------------------
  function watchChannel(form) {
    const channel = form.querySelector("#channel");
    if (!channel) return;
    const apply = () => {
      form.querySelectorAll("[data-channels]").forEach((el) => {
        el.hidden = !el.dataset.channels.split(" ").includes(channel.value);
      });
    };
    channel.addEventListener("change", apply);
    apply();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const campaign = document.querySelector(".campaign[data-live-url]");
    if (campaign) watchCampaign(campaign);
    const task = document.querySelector("#import-task[data-task-url]");
    if (task) {
      task.dataset.reloaded = new URL(window.location.href).searchParams.has("task") &&
        task.dataset.finished === "true" ? "true" : "false";
      watchTask(task);
    }
    const form = document.querySelector("form.campaign-form");
    if (form) { watchChannel(form); watchPreview(form); }
  });
})();
