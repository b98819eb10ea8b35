/* 微邻里 指挥调度台: forms that call the JSON API with the session's CSRF token. No framework. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute("content") : "";

  function toast(text, bad) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;  // always text: server messages may echo user input
    el.className = "toast" + (bad ? " bad" : "");
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.hidden = true; }, bad ? 8000 : 3000);
  }

  function errorText(data, status) {
    var detail = data && data.detail;
    if (detail && typeof detail === "object" && !Array.isArray(detail)) {
      return (detail.message || "操作失败") + (detail.errors ? "：\n" + detail.errors.join("\n") : "");
    }
    if (Array.isArray(detail)) return detail.map(function (d) { return d.msg || String(d); }).join("；");
    return detail || ("操作失败（" + status + "）");
  }

  // api(url, body, {method, upload}) → Promise of parsed JSON; rejects with a readable message.
  function api(url, body, options) {
    options = options || {};
    var headers = { "X-CSRF-Token": CSRF, "Accept": "application/json" };
    var payload = body;
    if (!options.upload) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body || {});
    }
    return fetch(url, { method: options.method || "POST", headers: headers, body: payload, credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (raw) {
          var data = null;
          try { data = raw ? JSON.parse(raw) : {}; } catch (e) { data = { detail: raw.slice(0, 200) }; }
          if (!response.ok) {
            if (response.status === 401) { location.href = "/admin/login?next=" + encodeURIComponent(location.pathname); }
            throw new Error(errorText(data, response.status));
          }
          return data;
        });
      });
  }
  window.wl = { api: api, toast: toast, csrf: CSRF };

  function formBody(form) {
    var body = {};
    new FormData(form).forEach(function (value, key) { body[key] = value; });
    return body;
  }

  function showMessage(form, text, bad) {
    var msg = form.querySelector(".msg");
    if (!msg) {
      msg = document.createElement("p");
      msg.className = "msg";
      msg.setAttribute("role", "alert");
      form.appendChild(msg);
    }
    msg.textContent = text;
    msg.className = "msg" + (bad ? " bad" : " good");
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.matches("form.act[data-api]")) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    var upload = !!form.dataset.upload;
    var body = upload ? new FormData(form) : formBody(form);
    var button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    api(form.dataset.api, body, { upload: upload })
      .then(function (data) {
        var text = "已完成";
        if (data && data.rows !== undefined) text = "导入成功：" + data.rows + " 行";
        showMessage(form, text, false);
        toast(text);
        setTimeout(function () { location.reload(); }, upload ? 1200 : 400);
      })
      .catch(function (err) { showMessage(form, err.message, true); toast(err.message, true); })
      .finally(function () { if (button) button.disabled = false; });
  });

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("button.bind-code[data-api]");
    if (!button) return;
    button.disabled = true;
    api(button.dataset.api, {})
      .then(function (data) {
        var out = document.createElement("span");
        out.className = "code";
        out.textContent = data.code + "（24小时内有效）";
        out.title = data.hint;
        button.replaceWith(out);
        toast(data.hint);
      })
      .catch(function (err) { button.disabled = false; toast(err.message, true); });
  });

  // The list: a click anywhere on a row opens the event.
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest("table.list tr[data-number]");
    if (!row || ev.target.closest("a, button, input, select")) return;
    location.href = row.dataset.href || "/admin/events/" + encodeURIComponent(row.dataset.number);
  });

  // 查看完整号码: reveal one masked contact (the server records who looked), shown as text.
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("button.reveal[data-api]");
    if (!button) return;
    button.disabled = true;
    api(button.dataset.api, {})
      .then(function (data) {
        var target = document.querySelector(button.dataset.target);
        if (target) target.textContent = data[button.dataset.field] || "—";
        var extra = button.dataset.also && document.querySelector(button.dataset.also);
        if (extra && data.text) extra.textContent = data.text;
        button.textContent = "已显示（本次查看已记录）";
        toast("已显示完整号码，本次查看已记录");
      })
      .catch(function (err) { button.disabled = false; toast(err.message, true); });
  });
})();
