// Pressroom console: small progressive enhancements. Every page works without this script;
// it sets the viewer's time zone, counts caption characters, validates a campaign as it is
// typed, asks before destructive actions and refreshes live panels.
(function () {
  "use strict";

  function cookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie.split(";")) {
      const c = part.trim();
      if (c.startsWith(prefix)) return decodeURIComponent(c.slice(prefix.length));
    }
    return null;
  }

  // The viewer's time zone: the calendar and every time on the pages use it.
  try {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && /^[A-Za-z0-9_+\-\/]+$/.test(tz) && cookie("pressroom_tz") !== tz) {
      document.cookie = "pressroom_tz=" + tz + "; path=/; max-age=31536000; samesite=lax";
      if (cookie("pressroom_tz") === tz && document.body.dataset.tz && document.body.dataset.tz !== tz) {
        location.reload();
      }
    }
  } catch (e) { /* keep UTC */ }

  // Selects that act at once (the workspace switcher).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
    const b = s.form.querySelector("button");
    if (b) b.hidden = true;
  });

  // Destructive forms ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
    });
  });

  // Caption character counts against the platform's limit, as the reviewer types.
  document.querySelectorAll("textarea[data-count]").forEach(function (t) {
    const out = document.getElementById(t.dataset.count);
    if (!out) return;
    const limit = parseInt(t.dataset.limit || "0", 10);
    const update = function () {
      const n = Array.from(t.value.replace(/\r\n/g, "\n")).length;
      out.querySelector(".n").textContent = String(n);
      out.classList.toggle("over", limit > 0 && n > limit);
    };
    t.addEventListener("input", update);
  });

  // The campaign editor: the validator's issues at their lines, as you type.
  const source = document.querySelector("textarea[data-validate]");
  if (source) {
    const list = document.querySelector("[data-testid=campaign-errors]");
    let timer = null;
    let sent = 0;
    const show = function (answer) {
      list.replaceChildren();
      if (answer.valid) {
        const li = document.createElement("li");
        li.className = "valid";
        li.textContent = "No problems" + (answer.name ? " in " + answer.name : "") + ".";
        list.append(li);
        return;
      }
      for (const issue of answer.issues || []) {
        const li = document.createElement("li");
        const at = document.createElement("span");
        at.className = "at";
        at.textContent = "line " + issue.line + ":" + issue.column;
        li.dataset.line = String(issue.line);
        li.append(at, " " + (issue.field ? issue.field + ": " : "") + issue.message);
        list.append(li);
      }
    };
    const validate = function () {
      const mine = ++sent;
      fetch(source.dataset.validate, {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/toml", "x-csrf-token": cookie("pressroom_csrf") || "" },
        body: source.value,
      })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (answer) { if (answer && mine === sent) show(answer); })
        .catch(function () { /* the server-side check on save still runs */ });
    };
    source.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(validate, 350);
    });
  }

  // Live panels (operations, a run in progress): re-read the page and swap the panel.
  document.querySelectorAll("[data-refresh]").forEach(function (panel) {
    const every = parseInt(panel.dataset.refresh, 10) * 1000;
    if (!panel.id || !(every > 0)) return;
    const tick = function () {
      fetch(location.href, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          const fresh = new DOMParser().parseFromString(html, "text/html").getElementById(panel.id);
          if (fresh) panel.replaceChildren(...fresh.childNodes);
          if (!fresh || fresh.dataset.refresh) setTimeout(tick, every);
        })
        .catch(function () { setTimeout(tick, every * 3); });
    };
    setTimeout(tick, every);
  });
})();

// The connect page moves on to the platform's consent screen by itself.
(function () {
  const go = document.querySelector("a[data-autofollow]");
  if (go) location.assign(go.href);
})();
