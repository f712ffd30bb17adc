// The fleet overview: the SoC histogram, live tiles from the fleet summary, and a recent-activity list.
// Progressive: without this script the page still shows its tiles (as rendered), the alerts and the table.
(function () {
  "use strict";
  const body = document.body;
  const dataElement = document.getElementById("fleet-summary-data");
  const chartElement = document.getElementById("soc-chart");
  const activity = document.getElementById("activity");
  const MAX_ACTIVITY = 25;
  let chart = null;

  function socOption(soc) {
    return {
      animation: false,
      grid: { left: 44, right: 12, top: 30, bottom: 40 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "category", data: soc.labels, name: "SoC band from (%)", nameLocation: "middle", nameGap: 28,
               axisLabel: { interval: 0, fontSize: 10, formatter: (v) => v.split("–")[0] } },
      yAxis: { type: "value", name: "devices", minInterval: 1 },
      series: [{ type: "bar", name: "devices", data: soc.counts, barCategoryGap: "8%", itemStyle: { color: "#0b5cad" } }],
    };
  }

  if (window.echarts && chartElement && dataElement) {
    const summary = JSON.parse(dataElement.textContent);
    chart = window.echarts.init(chartElement, null, { renderer: "canvas" });
    chart.setOption(socOption(summary.soc));
    window.addEventListener("resize", () => chart.resize());
  }

  function lookup(object, path) {
    return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), object);
  }

  body.addEventListener("gridpilot:fleet", (event) => {
    const summary = event.detail;
    document.querySelectorAll("[data-fleet-field]").forEach((element) => {
      const value = lookup(summary, element.dataset.fleetField);
      if (value === undefined) return;
      const digits = element.dataset.digits;
      element.textContent = value === null ? "—" : digits !== undefined ? Number(value).toFixed(Number(digits)) : String(value);
    });
    if (chart && summary.soc) chart.setOption({ series: [{ data: summary.soc.counts }] });
  });

  function describe(event) {
    if (event.type === "telemetry") {
      const p = event.point || {};
      const power = typeof p.power_kw === "number" ? (p.power_kw >= 0 ? "+" : "") + p.power_kw.toFixed(1) + " kW" : "";
      const soc = typeof p.soc_pct === "number" ? p.soc_pct.toFixed(0) + " %" : "";
      return ["telemetry", [soc, power, p.state].filter(Boolean).join(" · ")];
    }
    if (event.type === "acks") {
      const counts = {};
      (event.acks || []).forEach((a) => { counts[a.status] = (counts[a.status] || 0) + 1; });
      return ["acks", Object.entries(counts).map(([s, n]) => n + " " + s).join(", ")];
    }
    if (event.type === "status") return ["status", String(event.state)];
    return [String(event.type), ""];
  }

  body.addEventListener("gridpilot:frame", (frame) => {
    if (!activity) return;
    const events = frame.detail.events || [];
    if (!events.length) return;
    const empty = activity.querySelector(".activity-empty");
    if (empty) empty.remove();
    const time = new Date().toLocaleTimeString();
    for (const event of events.slice(-MAX_ACTIVITY)) {
      const [kind, text] = describe(event);
      const item = document.createElement("li");
      item.dataset.kind = kind;
      const when = document.createElement("span");
      when.className = "muted";
      when.textContent = time + " ";
      const link = document.createElement("a");
      link.href = "/devices/" + encodeURIComponent(event.device_id || "");
      link.textContent = event.device_id || "?";
      const label = document.createElement("span");
      label.className = "activity-kind activity-" + kind;
      label.textContent = " " + kind + " ";
      const detail = document.createElement("span");
      detail.textContent = text;
      item.append(when, link, label, detail);
      activity.prepend(item);
    }
    while (activity.children.length > MAX_ACTIVITY) activity.lastElementChild.remove();
  });
})();
