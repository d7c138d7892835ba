/* siyu charts: draws every element with data-siyu-chart using ECharts (vendored by
 * scripts/vendor-assets). The chart's spec is the JSON in the element's data-siyu-chart
 * attribute, written by the Jinja macro in console/_charts.html:
 *
 *   {"kind": "funnel" | "bar" | "hbar" | "line" | "pie" | "band",
 *    "title": "…", "categories": ["…"], "series": [{"name": "…", "data": [1, 2]}],
 *    "unit": "人" (optional, shown in tooltips), "empty": "暂无数据" (optional)}
 *
 * Charts are drawn on load and again after every htmx swap, and resized with the window.
 */
(function () {
  "use strict";

  var palette = ["#c0392b", "#e67e22", "#f1c40f", "#27ae60", "#16a085", "#2980b9", "#8e44ad", "#7f8c8d"];

  function tooltip(unit) {
    return {
      trigger: "item",
      valueFormatter: function (value) { return value + (unit || ""); }
    };
  }

  function funnel(spec) {
    var data = spec.categories.map(function (name, index) {
      return { name: name, value: spec.series[0].data[index] };
    });
    return {
      color: palette,
      tooltip: tooltip(spec.unit),
      series: [{
        name: spec.series[0].name || spec.title || "",
        type: "funnel",
        sort: "none",
        minSize: "8%",
        left: "10%", right: "10%", top: 10, bottom: 10,
        label: { show: true, position: "inside", formatter: "{b}：{c}" },
        data: data
      }]
    };
  }

  function bars(spec, horizontal) {
    var category = { type: "category", data: spec.categories, axisLabel: { interval: 0, overflow: "truncate", width: 120 } };
    var value = { type: "value", minInterval: 1 };
    return {
      color: palette,
      tooltip: { trigger: "axis", axisPointer: { type: spec.kind === "line" ? "line" : "shadow" } },
      legend: spec.series.length > 1 ? { top: 0 } : undefined,
      grid: { left: 8, right: 16, top: spec.series.length > 1 ? 32 : 12, bottom: 8, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? Object.assign({}, category, { inverse: true }) : value,
      series: spec.series.map(function (series) {
        return { name: series.name, type: spec.kind === "line" ? "line" : "bar", data: series.data };
      })
    };
  }

  function pie(spec) {
    return {
      color: palette,
      tooltip: tooltip(spec.unit),
      legend: { bottom: 0 },
      series: [{
        type: "pie", radius: ["35%", "65%"],
        data: spec.categories.map(function (name, index) {
          return { name: name, value: spec.series[0].data[index] };
        })
      }]
    };
  }

  /* "band": series[0] = P10, series[1] = P90, series[2] = median, further series (the
   * actual figures) as dashed lines. The P10–P90 band is drawn as a stacked area. */
  function band(spec) {
    var low = spec.series[0].data, high = spec.series[1].data, mid = spec.series[2];
    var width = high.map(function (value, index) { return value - low[index]; });
    var lines = [
      { name: spec.series[0].name, type: "line", data: low, stack: "band", symbol: "none",
        lineStyle: { opacity: 0 }, tooltip: { show: false } },
      { name: "P10–P90", type: "line", data: width, stack: "band", symbol: "none",
        color: "rgba(192, 57, 43, 0.35)", lineStyle: { opacity: 0 },
        areaStyle: { color: "rgba(192, 57, 43, 0.18)" } },
      { name: mid.name, type: "line", data: mid.data, lineStyle: { width: 2 }, color: palette[0] }
    ];
    spec.series.slice(3).forEach(function (series, index) {
      lines.push({ name: series.name, type: "line", data: series.data, color: palette[5 + index],
        lineStyle: { type: "dashed", width: 2 } });
    });
    return {
      tooltip: {
        trigger: "axis",
        formatter: function (items) {
          var index = items[0].dataIndex;
          var text = items[0].axisValue + "<br>P10–P90：" + low[index] + " – " + high[index] +
            "<br>" + mid.name + "：" + mid.data[index];
          spec.series.slice(3).forEach(function (series) {
            if (series.data[index] !== null && series.data[index] !== undefined) {
              text += "<br>" + series.name + "：" + series.data[index];
            }
          });
          return text;
        }
      },
      legend: { top: 0, data: ["P10–P90", mid.name].concat(spec.series.slice(3).map(function (s) { return s.name; })) },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: spec.categories, boundaryGap: false },
      yAxis: { type: "value", minInterval: 1 },
      series: lines
    };
  }

  function optionsFor(spec) {
    if (spec.kind === "band") { return band(spec); }
    if (spec.kind === "funnel") { return funnel(spec); }
    if (spec.kind === "pie") { return pie(spec); }
    return bars(spec, spec.kind === "hbar");
  }

  function isEmpty(spec) {
    return !spec.categories || spec.categories.length === 0 ||
      spec.series.every(function (series) { return series.data.every(function (v) { return !v; }); });
  }

  function draw(element) {
    if (typeof echarts === "undefined") { return; }
    var spec;
    try { spec = JSON.parse(element.getAttribute("data-siyu-chart")); } catch (error) { return; }
    var existing = echarts.getInstanceByDom(element);
    if (existing) { existing.dispose(); }
    if (isEmpty(spec)) {
      element.innerHTML = '<div class="text-muted small text-center pt-5">' + (spec.empty || "暂无数据") + "</div>";
      element.setAttribute("data-siyu-chart-state", "empty");
      return;
    }
    var chart = echarts.init(element, null, { renderer: "svg", locale: "ZH" });
    chart.setOption(optionsFor(spec));
    element.setAttribute("data-siyu-chart-state", "drawn");
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-siyu-chart]").forEach(draw);
  }

  window.siyuCharts = { draw: draw, drawAll: drawAll, optionsFor: optionsFor };
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // Charts about to be replaced by an htmx swap are disposed first (ECharts keeps a registry).
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (typeof echarts === "undefined") { return; }
    event.target.querySelectorAll("[data-siyu-chart]").forEach(function (element) {
      var chart = echarts.getInstanceByDom(element);
      if (chart) { chart.dispose(); }
    });
  });
  document.addEventListener("htmx:afterSwap", function (event) { drawAll(event.target); });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-siyu-chart]").forEach(function (element) {
      var chart = typeof echarts !== "undefined" && echarts.getInstanceByDom(element);
      if (chart) { chart.resize(); }
    });
  });
})();
