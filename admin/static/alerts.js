/* 微邻里 指挥调度台: the urgent alarm and the dispatcher queue's answers (issue 15). No framework.
   Polls /api/alerts/urgent every 3 s: a new urgent event shows a banner and beeps until a
   dispatcher acknowledges it (POST …/ack with the session's CSRF token). */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute("content") : "";
  var banner = document.getElementById("urgent-banner");
  var label = document.getElementById("urgent-text");
  var ackButton = document.getElementById("urgent-ack");
  var pending = [];
  var audio = null;
  var beeping = null;

  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": CSRF, "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body || {}) });
  }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.4);
    } catch (e) { /* no audio device: the banner still shows */ }
  }

  function show() {
    if (!banner) return;
    if (!pending.length) {
      banner.hidden = true;
      document.body.removeAttribute("data-urgent");
      if (beeping) { clearInterval(beeping); beeping = null; }
      return;
    }
    var first = pending[0];
    label.textContent = "【紧急事件】" + first.number + " " + first.place + "：" + first.text +
      (first.alerted.length ? "（已通知：" + first.alerted.join("、") + "）" : "（尚未通知到人，请立即处置）") +
      (pending.length > 1 ? "  另有 " + (pending.length - 1) + " 条" : "");
    banner.hidden = false;
    document.body.setAttribute("data-urgent", first.number);
    if (!beeping) { beep(); beeping = setInterval(beep, 2000); }
  }

  function poll() {
    fetch("/api/alerts/urgent", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { events: [] }; })
      .then(function (data) { pending = data.events || []; show(); })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }

  if (banner) {
    ackButton.addEventListener("click", function () {
      if (!pending.length) return;
      var number = pending[0].number;
      post("/api/alerts/urgent/" + encodeURIComponent(number) + "/ack").then(function () {
        pending = pending.filter(function (e) { return e.number !== number; });
        show();
        window.location.href = "/admin/events/" + encodeURIComponent(number);
      });
    });
    poll();
    setInterval(poll, 3000);
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.queue-answer"), function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = form.querySelector("textarea").value;
      post("/api/queue/" + form.getAttribute("data-id") + "/answer", { text: text }).then(function (r) {
        if (r.ok) { form.closest("li").remove(); } else { r.text().then(function (t) { alert(t.slice(0, 200)); }); }
      });
    });
  });
})();
