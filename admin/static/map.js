/* 网格地图: the stored grid polygons as an ECharts map (no tiles), coloured by open / overdue events,
   with the events that carry coordinates as points. A click on a grid opens its event list. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("map-data").textContent);
  var el = document.getElementById("grid-map");
  if (!data.geojson.features.length) {
    el.textContent = "还没有带边界的网格：导入网格多边形后在此显示。";
    el.className = "map empty";
    return;
  }
  // ECharts names regions by properties.name: grids of two communities may share a name, so the
  // region name is made unique (the grid's name, with its id when taken).
  var byId = {}, seen = {};
  data.geojson.features.forEach(function (f) {
    var p = f.properties, name = seen[p.name] ? p.name + "·" + p.id : p.name;
    seen[p.name] = true;
    p.region = name;
    byId[name] = p;
    f.properties = { name: name, id: p.id };
  });
  echarts.registerMap("grids", data.geojson);
  function level(p) { return p.overdue > 0 ? 2 : (p.open > 0 ? 1 : 0); }
  var chart = echarts.init(el, null, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    tooltip: { trigger: "item", formatter: function (item) {
      if (item.seriesType === "scatter") {
        var d = item.data.event;
        return d.number + "<br>" + d.category + " · " + d.status_label + (d.overdue ? " · 超期" : "");
      }
      var p = byId[item.name];
      return p ? p.full_name + "<br>办理中 " + p.open + " 件 · 超期 " + p.overdue + " 件 · 累计 " + p.total + " 件" : "";
    } },
    visualMap: { show: false, type: "piecewise", seriesIndex: 0, dimension: 0,
                 pieces: [{ value: 0, color: "#e6f4ea" }, { value: 1, color: "#ffe8a3" }, { value: 2, color: "#ffb3b3" }] },
    geo: { map: "grids", roam: true, aspectScale: 0.86, layoutSize: "92%",
           label: { show: true, fontSize: 12, color: "#1c2733" },
           itemStyle: { borderColor: "#44505c", borderWidth: 1, areaColor: "#e6f4ea" },
           emphasis: { label: { show: true }, itemStyle: { areaColor: "#cfe0ff" } } },
    series: [
      { type: "map", geoIndex: 0, data: data.geojson.features.map(function (f) {
          return { name: f.properties.name, value: level(byId[f.properties.name]) }; }) },
      { type: "scatter", coordinateSystem: "geo", symbolSize: 9, zlevel: 1,
        data: data.points.map(function (p) {
          return { value: [p.lng, p.lat], event: p, itemStyle: { color: p.overdue ? "#e03131" : "#1f6feb" } }; }) }
    ]
  });
  el.dataset.rendered = "1";
  chart.on("click", function (item) {
    if (item.seriesType === "scatter") { location.href = "/admin/events/" + encodeURIComponent(item.data.event.number); return; }
    var p = byId[item.name];
    if (p) location.href = p.link;
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
