/* 微邻里 WeChat simulator — vanilla JS, no dependencies.
 * Every piece of text from users, the bot or pushes goes into the DOM with textContent (never
 * innerHTML), so "<script>" in a message is shown, not run. */
(function () {
  "use strict";

  var CONFIG = JSON.parse(document.getElementById("config").textContent);
  var API = CONFIG.api;
  var STORE_KEY = "weilinli-simulator-v1";
  var NUMBER = /WL\d{8}-\d{4}/g;
  var POLL_MS = 2000;
  var ROLE_LABEL = { resident: "居民", worker: "网格员", volunteer: "志愿者", custom: "自定义" };

  var saved = load();
  var state = {
    current: saved.current || CONFIG.personas[0].openid,
    chats: saved.chats || {},          // openid → [message]
    lastNumber: saved.lastNumber || {}, // openid → most recent event number seen
    seen: saved.seen || {},             // openid → highest push id looked at
    custom: saved.custom || [],         // custom openids
    showAll: !!saved.showAll,
    pushes: [],                         // every push card, oldest first
    lastPush: 0,
    freshIds: {},
    sending: false,
  };

  // ---------- helpers ----------
  function load() {
    try { return JSON.parse(sessionStorage.getItem(STORE_KEY)) || {}; } catch (e) { return {}; }
  }
  function save() {
    var chats = {};
    Object.keys(state.chats).forEach(function (k) { chats[k] = state.chats[k].slice(-120); });
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify({
        current: state.current, chats: chats, lastNumber: state.lastNumber, seen: state.seen,
        custom: state.custom, showAll: state.showAll,
      }));
    } catch (e) { /* storage full or disabled: the page still works */ }
  }
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === "text") node.textContent = v;
        else if (k === "className") node.className = v;
        else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? "" : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }
  /* Text with event numbers made clickable; built from text nodes only. */
  function richText(node, text) {
    text = String(text || "");
    var last = 0, m;
    NUMBER.lastIndex = 0;
    while ((m = NUMBER.exec(text)) !== null) {
      if (m.index > last) node.appendChild(document.createTextNode(text.slice(last, m.index)));
      node.appendChild(el("span", { className: "num", title: "填入输入框", text: m[0], "data-number": m[0] }));
      last = m.index + m[0].length;
    }
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
    return node;
  }
  function lastNumberIn(text) {
    var all = String(text || "").match(NUMBER);
    return all ? all[all.length - 1] : null;
  }
  function clock(at) {
    var d = at ? new Date(at * 1000) : new Date();
    return d.toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false });
  }
  function persona(openid) {
    var found = CONFIG.personas.filter(function (p) { return p.openid === openid; })[0];
    return found || { openid: openid, name: openid, role: "custom", role_label: "自定义", note: "自定义 OpenID" };
  }
  function chat(openid) { return state.chats[openid] || (state.chats[openid] = []); }
  function now() { return Date.now() / 1000; }

  // ---------- personas ----------
  function renderCustomList() {
    var list = $("customList");
    list.textContent = "";
    state.custom.forEach(function (openid) {
      list.appendChild(el("li", null, el("button", { type: "button", className: "persona", "data-openid": openid },
        el("span", { className: "avatar role-custom", "aria-hidden": "true", text: "自" }),
        el("span", { className: "who" }, el("b", { text: openid }), el("small", { text: "未绑定即按居民处理" })),
        el("span", { className: "badge", hidden: true }))));
    });
  }
  function renderPersonas() {
    var buttons = document.querySelectorAll(".persona");
    Array.prototype.forEach.call(buttons, function (b) {
      var openid = b.getAttribute("data-openid");
      b.classList.toggle("active", openid === state.current);
      var unseen = state.pushes.filter(function (p) {
        return p.touser === openid && p.id > (state.seen[openid] || 0);
      }).length;
      var badge = b.querySelector(".badge");
      badge.hidden = !unseen || openid === state.current;
      badge.textContent = unseen > 99 ? "99+" : String(unseen);
    });
  }
  function select(openid) {
    state.current = openid;
    markSeen();
    renderAll();
    save();
    $("textInput").focus();
  }
  function markSeen() {
    var mine = state.pushes.filter(function (p) { return p.touser === state.current; });
    if (mine.length) state.seen[state.current] = Math.max(state.seen[state.current] || 0, mine[mine.length - 1].id);
  }

  // ---------- chat ----------
  function renderWhoami() {
    var p = persona(state.current);
    var node = $("whoami");
    node.textContent = "";
    node.appendChild(document.createTextNode("以 "));
    node.appendChild(el("b", { text: p.name }));
    node.appendChild(document.createTextNode("（" + (p.role_label || ROLE_LABEL[p.role]) + "）身份聊天 · " + p.openid));
  }
  function renderChips() {
    var p = persona(state.current);
    var box = $("chips");
    box.textContent = "";
    (CONFIG.chips[p.role] || CONFIG.chips.resident).forEach(function (chip) {
      box.appendChild(el("button", {
        type: "button", className: chip.mode, text: chip.text,
        title: chip.mode === "send" ? "直接发送" : "填入输入框，补充后发送",
        onclick: function () { useChip(chip); },
      }));
    });
  }
  function useChip(chip) {
    if (chip.mode === "send") { send({ kind: "text", content: chip.text }); return; }
    var text = chip.text + " ";
    if (chip.number && state.lastNumber[state.current]) text += state.lastNumber[state.current] + " ";
    var input = $("textInput");
    input.value = text;
    input.focus();
    input.setSelectionRange(text.length, text.length);
  }

  function avatar(who) {
    if (who === "bot") return el("span", { className: "avatar bot", "aria-hidden": "true", text: "邻" });
    var p = persona(state.current);
    return el("span", { className: "avatar role-" + p.role, "aria-hidden": "true", text: p.name.slice(0, 1) });
  }
  function rawBlock(msg) {
    var box = el("div", { className: "raw" });
    if (msg.sent) { box.appendChild(el("b", { text: "→ 发给 /wechat 的明文 XML" + (msg.aes ? "（发送时已 AES 加密）" : "") })); box.appendChild(document.createTextNode(msg.sent + "\n")); }
    if (msg.raw !== undefined) { box.appendChild(el("b", { text: "← HTTP " + msg.status + " 响应体" })); box.appendChild(document.createTextNode((msg.raw || "（空）") + "\n")); }
    if (msg.decrypted) { box.appendChild(el("b", { text: "← 解密后的回复 XML" })); box.appendChild(document.createTextNode(msg.decrypted)); }
    return box;
  }
  function metaLine(msg) {
    var meta = el("div", { className: "meta" });
    var ok = msg.status === 200;
    meta.appendChild(el("span", { className: ok ? "" : "err", text: "HTTP " + msg.status }));
    meta.appendChild(el("span", { text: msg.aes ? "🔒 AES" : "明文" }));
    if (msg.elapsed_ms !== undefined) meta.appendChild(el("span", { text: msg.elapsed_ms + " ms" }));
    meta.appendChild(el("button", {
      type: "button", text: msg.open ? "收起报文" : "查看报文",
      onclick: function () { msg.open = !msg.open; save(); renderChat(); },
    }));
    return meta;
  }
  function mineBubble(msg) {
    var b;
    switch (msg.kind) {
      case "voice":
        b = el("div", { className: "bubble voice" }, "🎤 语音 " + Math.max(1, Math.min(59, Math.round((msg.content || "").length / 4) + 1)) + "″");
        b.appendChild(el("span", { className: "sub", text: msg.content ? "识别：" + msg.content : "（语音识别为空）" }));
        return b;
      case "image":
        return el("div", { className: "bubble photo" }, el("div", { className: "pic", text: "📷 现场照片" }));
      case "location":
        return el("div", { className: "bubble loc" },
          el("div", { className: "where" }, msg.label || "位置", el("small", { text: msg.lat + ", " + msg.lng })),
          el("div", { className: "map" }));
      default:
        return richText(el("div", { className: "bubble" }), msg.content);
    }
  }
  function systemLine(text, error) {
    return el("div", { className: "sys" + (error ? " error" : "") }, el("span", { text: text }));
  }
  function messageNode(msg) {
    if (msg.who === "event") return systemLine(msg.content);
    if (msg.who === "error") return systemLine(msg.content, true);
    if (msg.who === "me") {
      var wrap = el("div", { className: "bubble-wrap" }, mineBubble(msg));
      if (msg.pending) wrap.firstChild.classList.add("pending");
      return el("div", { className: "row me" }, avatar("me"), wrap);
    }
    if (msg.who === "push") {
      var p = msg.push;
      var cardNode = el("div", { className: "push-card-bubble" },
        el("div", { className: "head" },
          el("span", { className: "chan " + channelClass(p), text: p.failed ? p.channel + "·失败" : p.channel }),
          el("span", { className: "muted", text: clock(p.at) })),
        richText(el("div", { className: "body" }), p.text));
      return el("div", { className: "row" }, avatar("bot"), el("div", { className: "bubble-wrap" }, cardNode));
    }
    // the bot's passive reply (or its absence)
    var wrapBot = el("div", { className: "bubble-wrap" });
    if (msg.reply) wrapBot.appendChild(richText(el("div", { className: "bubble" }), msg.reply));
    else wrapBot.appendChild(el("div", { className: "bubble", style: "color:#999", text: msg.status === 200 ? "（公众号没有被动回复：success）" : "（请求被拒绝：" + String(msg.raw || "").slice(0, 80) + "）" }));
    wrapBot.appendChild(metaLine(msg));
    if (msg.open) wrapBot.appendChild(rawBlock(msg));
    return el("div", { className: "row" }, avatar("bot"), wrapBot);
  }
  function timeline() {
    var items = chat(state.current).slice();
    state.pushes.forEach(function (p) {
      if (p.touser === state.current && !p.failed) items.push({ who: "push", at: p.at, push: p });
    });
    return items.sort(function (a, b) { return (a.at || 0) - (b.at || 0); });
  }
  function renderChat() {
    var box = $("chat");
    var nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.textContent = "";
    var items = timeline();
    if (!items.length) {
      box.appendChild(el("div", { className: "empty" },
        el("div", { text: "还没有消息" }),
        el("div", { text: "试试发送“幸福小区3栋楼道灯坏了”，或点下方菜单" })));
      return;
    }
    var lastStamp = 0;
    items.forEach(function (msg) {
      if ((msg.at || 0) - lastStamp > 300) { box.appendChild(el("div", { className: "sys stamp" }, el("span", { text: clock(msg.at) }))); }
      lastStamp = msg.at || lastStamp;
      box.appendChild(messageNode(msg));
    });
    if (nearBottom || state.stickToBottom) { box.scrollTop = box.scrollHeight; state.stickToBottom = false; }
  }

  // ---------- sending ----------
  function describe(payload) {
    switch (payload.kind) {
      case "subscribe": return "你关注了公众号“微邻里”";
      case "unsubscribe": return "你取消关注了公众号";
      case "click": return "点击菜单「" + (payload.menuLabel || payload.key) + "」";
      default: return "";
    }
  }
  function send(payload) {
    if (state.sending) return;
    var openid = state.current;
    var aes = $("aesToggle").checked && CONFIG.mode.safe_mode;
    var msgs = chat(openid);
    var isEvent = ["subscribe", "unsubscribe", "click"].indexOf(payload.kind) >= 0;
    var mine = isEvent
      ? { who: "event", at: now(), content: describe(payload) }
      : { who: "me", at: now(), kind: payload.kind, content: payload.content || "", lat: payload.lat, lng: payload.lng, label: payload.label, pending: true };
    msgs.push(mine);
    state.sending = true;
    $("sendBtn").disabled = true;
    state.stickToBottom = true;
    renderChat();
    var body = { openid: openid, kind: payload.kind, content: payload.content || "", lat: payload.lat, lng: payload.lng,
      label: payload.label || "", key: payload.key || "", aes: aes };
    fetch(API + "/send", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
      })
      .then(function (res) {
        mine.pending = false;
        if (!res.ok) {
          var detail = res.data && res.data.detail;
          if (Array.isArray(detail)) detail = detail.map(function (d) { return d.msg; }).join("；");
          msgs.push({ who: "error", at: now(), content: "发送失败（" + res.status + "）：" + (detail || "未知错误") });
          return;
        }
        var d = res.data;
        msgs.push({ who: "bot", at: now(), reply: d.reply, status: d.status, raw: d.raw, decrypted: d.decrypted, sent: d.sent, aes: d.aes, elapsed_ms: d.elapsed_ms });
        if (d.status === 403 && !d.aes && CONFIG.mode.safe_mode) {
          msgs.push({ who: "error", at: now(), content: "服务处于安全模式，明文消息被拒绝（403）。打开左侧 AES 开关再发。" });
        }
        var number = lastNumberIn(d.reply);
        if (number) state.lastNumber[openid] = number;
      })
      .catch(function (e) {
        mine.pending = false;
        msgs.push({ who: "error", at: now(), content: "网络错误：" + e });
      })
      .then(function () {
        state.sending = false;
        $("sendBtn").disabled = false;
        state.stickToBottom = true;
        save();
        if (openid === state.current) renderChat();
        setTimeout(poll, 600);
      });
  }

  // ---------- pushes ----------
  function channelClass(p) {
    if (p.failed) return "failed";
    return p.kind.split(":")[0];
  }
  function renderPushes() {
    var list = $("pushList");
    var nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    list.textContent = "";
    var shown = state.pushes.filter(function (p) { return state.showAll || p.touser === state.current; });
    $("pushScope").textContent = state.showAll
      ? "所有身份收到的客服消息、模板消息、订阅通知（最新在下）"
      : persona(state.current).name + " 收到的客服消息、模板消息、订阅通知（最新在下）";
    if (!shown.length) {
      list.appendChild(el("div", { className: "empty" },
        el("div", { text: "暂无推送" }),
        el("div", { text: state.showAll ? "报事后，网格员会收到派单推送" : "勾选“全部身份”可查看所有人的推送" })));
      return;
    }
    shown.forEach(function (p) {
      var who = persona(p.touser);
      var card = el("div", { className: "push" + (state.freshIds[p.id] ? " fresh" : "") },
        el("div", { className: "top" },
          el("span", { className: "chan " + channelClass(p), text: p.failed ? p.channel + " · 发送失败" : p.channel }),
          el("span", { text: clock(p.at) }),
          state.showAll ? el("span", { className: "to", text: "→ " + who.name + (who.role_label ? "（" + who.role_label + "）" : "") }) : null),
        p.title ? el("div", { className: "title", text: p.title }) : null,
        richText(el("div", { className: "text" }), p.text),
        el("details", null, el("summary", { text: "微信接口 JSON · #" + p.id }),
          el("pre", { text: JSON.stringify(p.body, null, 2) })));
      list.appendChild(card);
    });
    if (nearBottom || state.pushStick) { list.scrollTop = list.scrollHeight; state.pushStick = false; }
  }
  var polling = false;
  function poll() {
    if (polling) return;
    polling = true;
    fetch(API + "/pushes?since=" + state.lastPush)
      .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
      .then(function (res) {
        if (!res.ok) { $("pushStatus").textContent = "读取失败：" + (res.data.detail || ""); return; }
        var fresh = res.data.pushes || [];
        var firstLoad = state.lastPush === 0;
        state.lastPush = Math.max(state.lastPush, res.data.last || 0);
        $("pushStatus").textContent = "已更新 " + clock();
        if (!fresh.length) return;
        state.freshIds = {};
        fresh.forEach(function (p) {
          if (!firstLoad) state.freshIds[p.id] = true;
          state.pushes.push(p);
          var number = lastNumberIn(p.text);
          if (number && p.touser) state.lastNumber[p.touser] = number;
        });
        markSeen();
        state.pushStick = true;
        state.stickToBottom = fresh.some(function (p) { return p.touser === state.current; });
        renderPushes();
        renderChat();
        renderPersonas();
        save();
      })
      .catch(function () { $("pushStatus").textContent = "连接中断，重试中…"; })
      .then(function () { polling = false; });
  }

  // ---------- dialogs ----------
  function openVoice() {
    var dlg = $("voiceDialog");
    $("voiceText").value = "";
    dlg.returnValue = "";
    dlg.showModal();
    $("voiceText").focus();
  }
  $("voiceDialog").addEventListener("close", function () {
    if (this.returnValue === "ok") send({ kind: "voice", content: $("voiceText").value.trim() });
  });
  function fillPlace() {
    var place = CONFIG.places[$("placeSelect").value];
    if (!place) return;
    $("latInput").value = place.lat;
    $("lngInput").value = place.lng;
    $("labelInput").value = place.label;
  }
  function openLocation() {
    var selectBox = $("placeSelect");
    if (!selectBox.options.length) {
      CONFIG.places.forEach(function (p, i) { selectBox.appendChild(el("option", { value: String(i), text: p.name })); });
      selectBox.appendChild(el("option", { value: "custom", text: "自定义坐标…" }));
      selectBox.addEventListener("change", fillPlace);
      fillPlace();
    }
    var dlg = $("locationDialog");
    dlg.returnValue = "";
    dlg.showModal();
  }
  $("locationDialog").addEventListener("close", function () {
    if (this.returnValue !== "ok") return;
    var lat = parseFloat($("latInput").value), lng = parseFloat($("lngInput").value);
    if (!isFinite(lat) || !isFinite(lng) || Math.abs(lat) > 90 || Math.abs(lng) > 180) {
      chat(state.current).push({ who: "error", at: now(), content: "坐标无效：纬度 -90~90，经度 -180~180" });
      renderChat();
      return;
    }
    send({ kind: "location", lat: lat, lng: lng, label: $("labelInput").value.trim() });
  });

  // ---------- wiring ----------
  function renderAll() {
    renderPersonas();
    renderWhoami();
    renderChips();
    state.stickToBottom = true;
    renderChat();
    state.pushStick = true;
    renderPushes();
  }
  document.addEventListener("click", function (e) {
    var personaBtn = e.target.closest(".persona");
    if (personaBtn) { select(personaBtn.getAttribute("data-openid")); return; }
    var num = e.target.closest(".num");
    if (num) {
      var input = $("textInput");
      input.value = (input.value && !/\s$/.test(input.value) ? input.value + " " : input.value) + num.getAttribute("data-number");
      input.focus();
      return;
    }
    var tool = e.target.closest("[data-tool]");
    if (tool) {
      var kind = tool.getAttribute("data-tool");
      if (kind === "voice") openVoice();
      else if (kind === "location") openLocation();
      else send({ kind: kind });
      return;
    }
    var menu = e.target.closest("#menubar button[data-key]");
    if (menu) send({ kind: "click", key: menu.getAttribute("data-key"), menuLabel: menu.textContent.trim() });
  });
  $("composer").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = $("textInput");
    var text = input.value.trim();
    if (!text || state.sending) return;
    input.value = "";
    send({ kind: "text", content: text });
  });
  $("customForm").addEventListener("submit", function (e) {
    e.preventDefault();
    var value = $("customOpenid").value.trim();
    if (!/^[A-Za-z0-9_\-]{1,64}$/.test(value)) return;
    var known = CONFIG.personas.some(function (p) { return p.openid === value; });
    if (!known && state.custom.indexOf(value) < 0) state.custom.push(value);
    $("customOpenid").value = "";
    renderCustomList();
    select(value);
  });
  $("showAll").checked = state.showAll;
  $("showAll").addEventListener("change", function () {
    state.showAll = this.checked;
    state.pushStick = true;
    renderPushes();
    save();
  });
  $("aesToggle").addEventListener("change", function () {
    if (!this.checked && CONFIG.mode.safe_mode) {
      chat(state.current).push({ who: "event", at: now(), content: "已切换为明文发送：安全模式的服务会拒绝（403）" });
    } else if (this.checked) {
      chat(state.current).push({ who: "event", at: now(), content: "已切换为 AES 加密发送" });
    }
    renderChat();
  });
  function tick() { $("clock").textContent = clock(); }

  renderCustomList();
  renderAll();
  tick();
  setInterval(tick, 15000);
  poll();
  setInterval(poll, POLL_MS);
})();
