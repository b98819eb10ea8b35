/* The dashboard: ECharts (vendored) from the page's JSON and, when available, GET /api/rates. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dash-data").textContent);
  var charts = [];
  var PALETTE = ["#1f6feb", "#e8590c", "#2f9e44", "#ae3ec9", "#f59f00", "#0c8599", "#e03131", "#5c940d", "#862e9c", "#868e96"];

  function chart(id, option) {
    var el = document.getElementById(id);
    var c = echarts.init(el, null, { renderer: "canvas" });
    c.setOption(Object.assign({ color: PALETTE, animation: false, textStyle: { fontFamily: "sans-serif" } }, option));
    charts.push(c);
    el.dataset.rendered = "1";
    return c;
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });

  var cats = data.categories.length ? data.categories : [{ label: "暂无事件", count: 0 }];
  chart("chart-categories", {
    tooltip: { trigger: "item", formatter: "{b}：{c} 件（{d}%）" },
    legend: { type: "scroll", orient: "vertical", right: 0, top: "middle" },
    series: [{ type: "pie", radius: ["38%", "68%"], center: ["38%", "50%"], label: { formatter: "{b}\n{c}" },
               data: cats.map(function (c) { return { name: c.label, value: c.count }; }) }]
  });

  chart("chart-trend", {
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 40, right: 16, top: 36, bottom: 28 },
    xAxis: { type: "category", data: data.trend.map(function (t) { return t.month; }) },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "受理", type: "bar", barMaxWidth: 30, data: data.trend.map(function (t) { return t.reported; }) },
      { name: "结案", type: "bar", barMaxWidth: 30, data: data.trend.map(function (t) { return t.closed; }) }
    ]
  });

  // ---- the three rates (bot/rates.py via GET /api/rates) -------------------------------------------
  function pct(v) { return v === null || v === undefined ? null : Math.round(v * 10) / 10; }  // rates are percentages
  function pick(row, names) {
    for (var i = 0; i < names.length; i++) if (row[names[i]] !== undefined) return row[names[i]];
    return null;
  }
  function rowsOf(answer) {
    if (Array.isArray(answer)) return answer;
    return answer.rows || answer.items || answer.results || answer.data || [];
  }
  function total(answer, rows) {
    if (answer && !Array.isArray(answer) && (answer.total || answer.overall)) return answer.total || answer.overall;
    if (rows.length === 1) return rows[0];
    // no overall figure: weight by the numbers of events when given, else a plain mean
    var keys = ["response_rate", "completion_rate", "satisfaction_rate", "score"], out = {};
    keys.forEach(function (k) {
      var vals = rows.map(function (r) { return pick(r, [k, k.replace("_rate", ""), k === "score" ? "composite" : k]); })
        .filter(function (v) { return v !== null; });
      out[k] = vals.length ? vals.reduce(function (a, b) { return a + b; }, 0) / vals.length : null;
    });
    return out;
  }
  function months(n) {
    // the months up to the one the page shows (data.month, YYYY-MM), else up to this month
    var out = [], d = data.month ? new Date(+data.month.slice(0, 4), +data.month.slice(5, 7) - 1, 1) : new Date();
    d.setDate(1);
    for (var i = n - 1; i >= 0; i--) {
      var m = new Date(d.getFullYear(), d.getMonth() - i, 1);
      out.push(m.getFullYear() + "-" + String(m.getMonth() + 1).padStart(2, "0"));
    }
    return out;
  }
  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); });
  }

  var list = months(data.months || 6);
  var by = document.body.dataset.ratesBy || "street";
  Promise.all(list.map(function (m) { return get("/api/rates?month=" + m + "&by=" + by); }))
    .then(function (answers) {
      var series = { r: [], c: [], s: [], score: [] };
      answers.forEach(function (a) {
        var t = total(a, rowsOf(a)) || {};
        series.r.push(pct(pick(t, ["response_rate", "response"])));
        series.c.push(pct(pick(t, ["completion_rate", "completion"])));
        series.s.push(pct(pick(t, ["satisfaction_rate", "satisfaction"])));
        series.score.push(pct(pick(t, ["composite", "score", "composite_score"])));
      });
      var empty = [series.r, series.c, series.s].every(function (xs) { return xs.every(function (v) { return v === null; }); });
      chart("chart-rates", {
        title: empty ? { text: "本期暂无可考核事件", subtext: "事件到达响应或办结时限、或收到评价后计入", left: "center", top: "middle",
                         textStyle: { fontSize: 14, color: "#8a96a3", fontWeight: "normal" } } : undefined,
        tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null ? "—" : v + "%"; } },
        legend: { top: 0 },
        grid: { left: 44, right: 16, top: 36, bottom: 28 },
        xAxis: { type: "category", data: list },
        yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
        series: [
          { name: "响应率", type: "line", data: series.r, connectNulls: true },
          { name: "办结率", type: "line", data: series.c, connectNulls: true },
          { name: "满意率", type: "line", data: series.s, connectNulls: true },
          { name: "综合得分", type: "line", data: series.score, connectNulls: true, lineStyle: { width: 3 } }
        ]
      });
      return get("/api/rates?month=" + list[list.length - 1] + "&by=grid");
    })
    .then(function (answer) {
      document.getElementById("ranking-month").textContent = list[list.length - 1];
      var rows = rowsOf(answer).filter(function (r) { return r.key !== null; }).map(function (r) {
        return { name: pick(r, ["name", "label", "grid", "unit"]) || "?", score: pct(pick(r, ["composite", "score", "composite_score"])) };
      }).filter(function (r) { return r.score !== null; });
      rows.sort(function (a, b) { return a.score - b.score; });
      if (!rows.length) { gridVolume(); return; }
      chart("chart-ranking", {
        tooltip: { trigger: "axis", valueFormatter: function (v) { return v + " 分"; } },
        grid: { left: 110, right: 40, top: 8, bottom: 24 },
        xAxis: { type: "value", min: 0, max: 100 },
        yAxis: { type: "category", data: rows.map(function (r) { return r.name; }), axisLabel: { width: 100, overflow: "truncate" } },
        series: [{ type: "bar", barMaxWidth: 26, data: rows.map(function (r) { return r.score; }), label: { show: true, position: "right" } }]
      });
    })
    .catch(function () {
      if (!document.getElementById("chart-rates").dataset.rendered) {
        document.getElementById("chart-rates").hidden = true;
        document.getElementById("rates-missing").hidden = false;
      }
      if (!document.getElementById("chart-ranking").dataset.rendered) gridVolume();
    });

  // No three-rate figures for the grids yet: rank the grids by this month's events instead.
  function gridVolume() {
    var grids = (data.grids || []).slice().reverse();
    document.getElementById("ranking-title").textContent = "各网格本月事件量";
    if (!grids.length) {
      document.getElementById("chart-ranking").hidden = true;
      document.getElementById("ranking-missing").hidden = false;
      return;
    }
    chart("chart-ranking", {
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 110, right: 30, top: 30, bottom: 24 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: grids.map(function (g) { return g.name; }), axisLabel: { width: 100, overflow: "truncate" } },
      series: [
        { name: "办结", type: "bar", stack: "n", barMaxWidth: 26, data: grids.map(function (g) { return g.reported - g.open; }) },
        { name: "办理中", type: "bar", stack: "n", data: grids.map(function (g) { return g.open - g.overdue; }) },
        { name: "超期", type: "bar", stack: "n", data: grids.map(function (g) { return g.overdue; }), color: "#e03131" }
      ]
    });
  }
})();
