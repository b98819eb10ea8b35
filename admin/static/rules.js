/* The rules page: a form per category (keywords with weights, subcategories, urgency terms), the
   concepts, the TOML text as the advanced view, check / save / roll back, and a live test.
   The form is turned into TOML by POST /api/rules/form; saving is PUT /api/rules either way. */
(function () {
  "use strict";
  var state = JSON.parse(document.getElementById("rules-data").textContent);
  var text = document.getElementById("rules-text");
  var gutter = document.getElementById("gutter");
  var msg = document.getElementById("rules-msg");
  var base = text.value;          // the TOML the form was read from
  var dirty = {};                  // category codes / "concepts" edited in the form since
  var tomlEdited = false;
  var pane = "form";
  var SEP = /[、，,;；\n]+/;

  function split(value) { return value.split(SEP).map(function (s) { return s.trim(); }).filter(Boolean); }
  function join(list) { return (list || []).join("、"); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }
  function say(line, bad) {
    msg.textContent = line;
    msg.className = "msg " + (bad ? "bad" : "good");
    var m = /line (\d+)/i.exec(line) || /第\s*(\d+)\s*行/.exec(line);
    if (bad && m && pane === "toml") jumpTo(parseInt(m[1], 10));
  }

  // ---------------------------------------------------------------- the TOML view
  function numbers() {
    var count = text.value.split("\n").length, out = [];
    for (var i = 1; i <= count; i++) out.push(i);
    gutter.textContent = out.join("\n");
  }
  text.addEventListener("input", function () { tomlEdited = true; numbers(); });
  text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
  numbers();
  function jumpTo(line) {
    var lines = text.value.split("\n"), start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1] || "").length);
    var lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 18;
    text.scrollTop = Math.max(0, (line - 5) * lineHeight);
  }

  // ---------------------------------------------------------------- the category form
  var select = document.getElementById("cat-select");
  document.getElementById("min-score").textContent = state.min_score === null ? "—" : state.min_score;
  function current() { return state.categories[select.selectedIndex] || null; }
  function touch() { var c = current(); if (c) dirty[c.code] = true; }

  function fillSelect() {
    var keep = select.value;
    select.textContent = "";
    state.categories.forEach(function (c) { select.appendChild(el("option", { value: c.code, text: c.label + "（" + c.code + "）" })); });
    if (keep) select.value = keep;
    if (select.selectedIndex < 0) select.selectedIndex = 0;
  }

  function row(cells) { return el("tr", {}, cells.map(function (c) { return el("td", {}, [c]); })); }
  function input(value, attrs, onInput) {
    var node = el("input", attrs);
    node.value = value === null || value === undefined ? "" : value;
    node.addEventListener("input", function () { onInput(node.value); touch(); });
    return node;
  }
  function remover(onClick) {
    var b = el("button", { type: "button", class: "link danger", text: "删除" });
    b.addEventListener("click", function () { onClick(); touch(); renderCategory(); });
    return b;
  }

  function renderCategory() {
    var c = current();
    if (!c) return;
    document.getElementById("cat-label").value = c.label;
    document.getElementById("cat-grade").value = c.grade || "A";
    document.getElementById("cat-unit").value = c.unit || "";
    document.getElementById("cat-negative").value = join(c.negative);
    var filter = document.getElementById("kw-filter").value.trim();
    var kw = document.querySelector("#kw-table tbody");
    kw.textContent = "";
    c.keywords.forEach(function (k, i) {
      if (filter && k.pattern.indexOf(filter) < 0) return;
      kw.appendChild(row([
        input(k.pattern, { class: "kw-pattern", maxlength: 80, "aria-label": "关键词" }, function (v) { k.pattern = v; }),
        input(k.weight, { class: "kw-weight", type: "number", step: "0.5", min: "0.5", max: "100", "aria-label": "权重" },
              function (v) { k.weight = v; }),
        remover(function () { c.keywords.splice(i, 1); })
      ]));
    });
    document.getElementById("kw-count").textContent = "共 " + c.keywords.length + " 条";
    var subs = document.querySelector("#sub-table tbody");
    subs.textContent = "";
    c.subs.forEach(function (s, i) {
      subs.appendChild(row([
        input(s.label, { class: "sub-label", maxlength: 30, "aria-label": "子类名称" }, function (v) { s.label = v; }),
        input(join(s.match), { class: "sub-match wide", "aria-label": "匹配词" }, function (v) { s.match = split(v); }),
        input(s.weight, { class: "sub-weight", type: "number", step: "0.5", min: "0", max: "100", "aria-label": "权重" },
              function (v) { s.weight = v === "" ? null : v; }),
        remover(function () { c.subs.splice(i, 1); })
      ]));
    });
    var urgent = document.querySelector("#urgent-table tbody");
    urgent.textContent = "";
    c.urgent.forEach(function (u) {
      urgent.appendChild(row([
        el("span", { text: u.label }),
        input(join(u.now), { class: "urgent-now wide", "aria-label": u.label + " 立即紧急" }, function (v) { u.now = split(v); }),
        input(join(u.state), { class: "urgent-state wide", "aria-label": u.label + " 状态" }, function (v) { u.state = split(v); })
      ]));
    });
    document.getElementById("urgent-none").hidden = c.urgent.length > 0;
    document.getElementById("urgent-table").hidden = c.urgent.length === 0;
  }
  select.addEventListener("change", renderCategory);
  document.getElementById("kw-filter").addEventListener("input", renderCategory);
  [["cat-label", "label"], ["cat-grade", "grade"], ["cat-unit", "unit"]].forEach(function (pair) {
    document.getElementById(pair[0]).addEventListener("input", function (ev) { current()[pair[1]] = ev.target.value; touch(); });
  });
  document.getElementById("cat-negative").addEventListener("input", function (ev) { current().negative = split(ev.target.value); touch(); });
  document.getElementById("kw-add").addEventListener("click", function () {
    current().keywords.unshift({ pattern: "", weight: 2 });
    document.getElementById("kw-filter").value = "";
    touch(); renderCategory();
    var first = document.querySelector("#kw-table .kw-pattern");
    if (first) first.focus();
  });
  document.getElementById("sub-add").addEventListener("click", function () {
    current().subs.push({ label: "", match: [], weight: null });
    touch(); renderCategory();
  });

  // ---------------------------------------------------------------- concepts
  var conceptSelect = document.getElementById("concept-select");
  var conceptWords = document.getElementById("concept-words");
  function fillConcepts() {
    conceptSelect.textContent = "";
    state.concepts.forEach(function (c) { conceptSelect.appendChild(el("option", { value: c.name, text: "@" + c.name + "（" + c.words.length + " 个说法）" })); });
    showConcept();
  }
  function showConcept() { var c = state.concepts[conceptSelect.selectedIndex]; conceptWords.value = c ? join(c.words) : ""; }
  conceptSelect.addEventListener("change", showConcept);
  conceptWords.addEventListener("input", function () {
    var c = state.concepts[conceptSelect.selectedIndex];
    if (c) { c.words = split(conceptWords.value); c.edited = true; dirty.concepts = true; }
  });

  // ---------------------------------------------------------------- form ⇄ TOML
  function formChanges() {
    return {
      categories: state.categories.filter(function (c) { return dirty[c.code]; }),
      concepts: state.concepts.filter(function (c) { return c.edited; }).map(function (c) { return { name: c.name, words: c.words }; })
    };
  }
  function formDirty() { return Object.keys(dirty).length > 0; }
  // The TOML that would be saved now: the form written into the text it was read from, or the text.
  function pendingText() {
    if (pane === "toml" || !formDirty()) return Promise.resolve(text.value);
    return wl.api("/api/rules/form", { text: base, form: formChanges() }).then(function (r) { return r.text; });
  }
  function load(answer) {  // a rules text became the truth: the form re-reads it
    return wl.api("/api/rules/form", { text: answer, form: null }).then(function (r) {
      state = r; base = answer; text.value = answer; numbers(); dirty = {}; tomlEdited = false;
      fillSelect(); renderCategory(); fillConcepts();
    });
  }
  function show(name) {
    var go = Promise.resolve();
    if (name === "toml" && pane !== "toml" && formDirty()) {
      go = pendingText().then(function (t) { text.value = t; numbers(); base = t; dirty = {}; });
    } else if (name !== "toml" && pane === "toml" && tomlEdited) {
      go = load(text.value);
    }
    go.then(function () {
      pane = name;
      document.querySelectorAll("[data-pane]").forEach(function (p) { p.hidden = p.dataset.pane !== name; });
      document.querySelectorAll("#rules-tabs a").forEach(function (a) { a.classList.toggle("on", a.dataset.tab === name); });
    }).catch(function (e) { say(e.message, true); });
  }
  document.querySelectorAll("#rules-tabs a").forEach(function (a) {
    a.addEventListener("click", function (ev) { ev.preventDefault(); show(a.dataset.tab); });
  });

  var check = document.getElementById("rules-check");
  if (check) check.addEventListener("click", function () {
    pendingText()
      .then(function (t) { return wl.api("/api/rules/validate", { text: t }); })
      .then(function (r) { say(r.ok ? "检查通过，可以保存。" : "有错误：" + r.error, !r.ok); })
      .catch(function (e) { say(e.message, true); });
  });
  var save = document.getElementById("rules-save");
  if (save) save.addEventListener("click", function () {
    var saved;
    pendingText()
      .then(function (t) { saved = t; return wl.api("/api/rules", { text: t }, { method: "PUT" }); })
      .then(function (r) { return load(saved).then(function () { return r; }); })
      .then(function (r) { say("已保存并生效（" + r.categories + " 个分类）。", false); wl.toast("规则已生效"); })
      .catch(function (e) { say(e.message, true); });
  });
  var rollback = document.getElementById("rules-rollback");
  if (rollback) rollback.addEventListener("click", function () {
    if (!window.confirm(rollback.dataset.confirm)) return;
    wl.api("/api/rules/rollback", {})
      .then(function (r) { return load(r.text).then(function () { return r; }); })
      .then(function () { say("已恢复上一版规则，并已生效。", false); wl.toast("已恢复上一版"); })
      .catch(function (e) { say("恢复上一版失败：" + e.message, true); });
  });

  // ---------------------------------------------------------------- test a sentence
  var result = document.getElementById("test-result");
  document.getElementById("test-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    wl.api("/api/rules/test", { text: document.getElementById("test-text").value })
      .then(function (r) {
        result.querySelectorAll("[data-k]").forEach(function (dd) {
          var k = dd.dataset.k, v = r[k];
          if (k === "confidence") v = Math.round((v || 0) * 100) + "%";
          else if (typeof v === "boolean") v = v ? "是" : "否";
          else if (k === "rule" && r.rules && r.rules.length > 1) v = r.rules.join("\n");
          dd.textContent = (v === null || v === undefined || v === "") ? "—" : String(v);
        });
        result.hidden = false;
      })
      .catch(function (e) { wl.toast(e.message, true); });
  });

  fillSelect(); renderCategory(); fillConcepts();
})();
