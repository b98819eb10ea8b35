/* The rules page: line numbers, check, save (validated server-side), and a live test. */
(function () {
  "use strict";
  var text = document.getElementById("rules-text");
  var gutter = document.getElementById("gutter");
  var msg = document.getElementById("rules-msg");

  function numbers() {
    var count = text.value.split("\n").length, out = [];
    for (var i = 1; i <= count; i++) out.push(i);
    gutter.textContent = out.join("\n");
  }
  text.addEventListener("input", numbers);
  text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
  numbers();

  function say(line, bad) {
    msg.textContent = line;
    msg.className = "msg " + (bad ? "bad" : "good");
    var m = /line (\d+)/i.exec(line) || /第\s*(\d+)\s*行/.exec(line);
    if (bad && m) jumpTo(parseInt(m[1], 10));
  }

  function jumpTo(line) {
    var lines = text.value.split("\n"), start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1] || "").length);
    var lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 18;
    text.scrollTop = Math.max(0, (line - 5) * lineHeight);
  }

  var check = document.getElementById("rules-check");
  if (check) check.addEventListener("click", function () {
    wl.api("/api/rules/validate", { text: text.value })
      .then(function (r) { say(r.ok ? "语法正确，可以保存。" : "有错误：" + r.error, !r.ok); })
      .catch(function (e) { say(e.message, true); });
  });

  document.getElementById("rules-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (text.readOnly) return;
    wl.api("/api/rules", { text: text.value }, { method: "PUT" })
      .then(function (r) { say("已保存并生效（" + r.categories + " 个分类）。", false); wl.toast("规则已生效"); })
      .catch(function (e) { say(e.message, true); });
  });

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
})();
