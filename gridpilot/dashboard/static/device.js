// A device's page: the schedule timeline and the telemetry charts, kept current from the device's live events.
// Progressive: without this script the page still shows its facts, history and executions tables.
(function () {
  "use strict";
  const body = document.body;
  const dataElement = document.getElementById("device-chart-data");
  if (!dataElement) return;
  const data = JSON.parse(dataElement.textContent);
  const timeline = data.timeline;
  const telemetry = data.telemetry;
  const COLORS = { planned: "#7d9cc0", executed: "#17773b", failed: "#b42318", missed: "#b25e00", expired: "#6b3fa0" };
  const STATUS_CATEGORY = { executed: "executed", failed: "failed", missed: "missed", skipped: "missed" };
  const charts = {};
  const echarts = window.echarts;

  const fmtTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";

  function renderBlock(params, api) {
    const base = api.coord([api.value(0), 0]);
    const tip = api.coord([api.value(1), api.value(2)]);
    const rect = {
      x: base[0], y: Math.min(base[1], tip[1]),
      width: Math.max(1, tip[0] - base[0] - 1), height: Math.max(1, Math.abs(tip[1] - base[1])),
    };
    const area = params.coordSys;
    const shape = echarts.graphic.clipRectByRect(rect, { x: area.x, y: area.y, width: area.width, height: area.height });
    return shape && { type: "rect", shape: shape, style: api.style() };
  }

  function timelineSeries() {
    return Object.entries(timeline.categories).map(([key, label], index) => ({
      type: "custom",
      name: label,
      renderItem: renderBlock,
      itemStyle: { color: COLORS[key], opacity: key === "planned" ? 0.75 : 0.95 },
      encode: { x: [0, 1], y: 2 },
      data: timeline.intervals.filter((i) => i.category === key).map((i) => ({ value: [i.start, i.end, i.kw, i.id], interval: i })),
      markLine: index === 0 ? { silent: true, symbol: "none", lineStyle: { color: "#1b2430", type: "dashed" },
                                label: { formatter: "now" }, data: [{ xAxis: timeline.now }] } : undefined,
    }));
  }

  function timelineTooltip(item) {
    const i = item.data.interval;
    const lines = [
      fmtTime(i.start).slice(0, 16) + " → " + fmtTime(i.end).slice(11, 16) + " UTC",
      (i.kw >= 0 ? "charge " : "discharge ") + Math.abs(i.kw) + " kW · v" + i.version,
      timeline.categories[i.category],
    ];
    if (i.ack && i.ack.energy_kwh != null) lines.push(i.ack.energy_kwh.toFixed(2) + " kWh");
    if (i.ack && i.ack.message) lines.push(i.ack.message);
    const div = document.createElement("div");  // text nodes: a device's message is never markup
    lines.forEach((line, n) => { if (n) div.append(document.createElement("br")); div.append(document.createTextNode(line)); });
    return div.innerHTML;
  }

  // The timeline spans the whole window (the plan reaches ahead); telemetry ends now, where its data ends.
  let telemetryEnd = timeline.now;
  function timeAxis(end) {
    return { type: "time", min: telemetry.since, max: end, axisLabel: { hideOverlap: true } };
  }

  function lineOption(name, unit, points, color, extra) {
    return Object.assign({
      animation: false,
      grid: { left: 48, right: 14, top: 18, bottom: 28 },
      tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "—" : Number(v).toFixed(1) + " " + unit) },
      xAxis: timeAxis(telemetryEnd),
      yAxis: { type: "value", scale: true },
      series: [{ type: "line", name: name, data: points, showSymbol: points.length < 3, sampling: "lttb",
                 lineStyle: { width: 1.5, color: color }, itemStyle: { color: color },
                 }],
    }, extra || {});
  }

  function init(id, option) {
    const element = document.getElementById(id);
    if (!element) return null;
    const chart = echarts.init(element, null, { renderer: "canvas" });
    chart.setOption(option);
    return chart;
  }

  if (echarts) {
    charts.timeline = init("timeline-chart", {
      animation: false,
      grid: { left: 48, right: 14, top: 40, bottom: 28 },
      legend: { top: 0, textStyle: { fontSize: 11 } },
      tooltip: { trigger: "item", formatter: timelineTooltip },
      xAxis: timeAxis(telemetry.until),
      yAxis: { type: "value", name: "kW" },
      series: timelineSeries(),
    });
    charts.soc = init("soc-chart", lineOption("SoC", "%", telemetry.soc, "#0b5cad", { yAxis: { type: "value", min: 0, max: 100 } }));
    charts.power = init("power-chart", lineOption("Power", "kW", telemetry.power, "#17773b"));
    charts.temperature = init("temperature-chart", lineOption("Temperature", "°C", telemetry.temperature, "#b25e00"));
    const lines = [charts.soc, charts.power, charts.temperature].filter(Boolean);
    if (lines.length > 1) echarts.connect(lines);
    window.addEventListener("resize", () => Object.values(charts).forEach((chart) => chart && chart.resize()));
  }

  function setText(id, text) {
    const element = document.getElementById(id);
    if (element) element.textContent = text;
  }

  function onTelemetry(event) {
    const p = event.point || {};
    const at = Date.parse(p.at);
    if (Number.isNaN(at)) return;
    if (typeof p.soc_pct === "number") { telemetry.soc.push([at, p.soc_pct]); setText("now-soc", p.soc_pct.toFixed(0)); }
    if (typeof p.power_kw === "number") { telemetry.power.push([at, p.power_kw]); setText("now-power", (p.power_kw >= 0 ? "+" : "") + p.power_kw.toFixed(1)); }
    if (typeof p.temperature_c === "number") { telemetry.temperature.push([at, p.temperature_c]); setText("now-temperature", p.temperature_c.toFixed(1)); }
    setText("latest-telemetry-at", fmtTime(at));
    if (at > telemetryEnd) telemetryEnd = at;
  }

  function onAcks(event) {
    const tbody = document.querySelector("#executions tbody");
    for (const ack of event.acks || []) {
      const interval = timeline.intervals.find((i) => i.id === ack.interval_id);
      if (interval) {
        interval.category = STATUS_CATEGORY[ack.status] || interval.category;
        interval.ack = { status: ack.status, energy_kwh: ack.energy_kwh, message: ack.message };
      }
      if (!tbody) continue;
      const empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      const row = document.createElement("tr");
      row.className = "live-row";
      const cells = [
        fmtTime(Date.now()), String(ack.interval_id), null,
        typeof ack.energy_kwh === "number" ? ack.energy_kwh.toFixed(2) + " kWh" : "—",
        typeof ack.soc_pct === "number" ? ack.soc_pct.toFixed(0) + " %" : "—", ack.message || "",
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement("td");
        if (index === 2) {
          const badge = document.createElement("span");
          badge.className = "status status-" + String(ack.status).replace(/[^a-z-]/g, "");
          badge.textContent = String(ack.status);
          cell.append(badge);
        } else {
          cell.textContent = text;
        }
        if (index === 3 || index === 4) cell.className = "num";
        row.append(cell);
      });
      tbody.prepend(row);
      while (tbody.children.length > 50) tbody.lastElementChild.remove();
    }
    const counts = {};
    timeline.intervals.forEach((i) => { counts[i.category] = (counts[i.category] || 0) + 1; });
    document.querySelectorAll("[data-timeline-count]").forEach((el) => { el.textContent = counts[el.dataset.timelineCount] || 0; });
  }

  function onStatus(event) {
    const badge = document.getElementById("device-status");
    if (!badge || typeof event.state !== "string") return;
    badge.textContent = event.state;
    badge.className = "status status-" + event.state.replace(/[^a-z-]/g, "");
    if (event.state === "online") setText("last-contact", fmtTime(Date.now()));
  }

  body.addEventListener("gridpilot:frame", (frame) => {
    let telemetryChanged = false;
    let acksChanged = false;
    for (const event of frame.detail.events || []) {
      if (event.type === "telemetry") { onTelemetry(event); telemetryChanged = true; }
      else if (event.type === "acks") { onAcks(event); acksChanged = true; }
      else if (event.type === "status") onStatus(event);
    }
    if (telemetryChanged && charts.soc) {
      charts.soc.setOption({ xAxis: { max: telemetryEnd }, series: [{ data: telemetry.soc }] });
      charts.power.setOption({ xAxis: { max: telemetryEnd }, series: [{ data: telemetry.power }] });
      charts.temperature.setOption({ xAxis: { max: telemetryEnd }, series: [{ data: telemetry.temperature }] });
    }
    if (acksChanged && charts.timeline) charts.timeline.setOption({ series: timelineSeries() });
  });

  // After a reconnect the page may have missed events: reload it (charts and tables are rendered server-side).
  body.addEventListener("gridpilot:resync", () => location.reload());
})();
