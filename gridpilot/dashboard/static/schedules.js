// Schedules page: draw the preview chart (ECharts) when a preview arrives; say so when a request is refused.
(function () {
  "use strict";

  function draw(root) {
    if (!window.echarts) return;
    root.querySelectorAll(".schedule-chart").forEach((el) => {
      const source = el.parentElement.querySelector("script.chart-data");
      if (!source || el.dataset.drawn) return;
      const data = JSON.parse(source.textContent);
      const chart = echarts.init(el);
      chart.setOption({
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { type: "scroll", top: 0 },
        grid: { left: 56, right: 20, top: 36, bottom: 56 },
        xAxis: { type: "time" },
        yAxis: { type: "value", name: "kW", axisLabel: { formatter: "{value}" } },
        dataZoom: [{ type: "inside" }, { type: "slider", height: 18, bottom: 8 }],
        series: data.series.map((s) => ({ name: s.name, type: "line", step: "end", showSymbol: false, data: s.points })),
      });
      el.dataset.drawn = "1";
      window.addEventListener("resize", () => chart.resize());
    });
  }

  function focusHeading(target) {
    const heading = target.querySelector("h2[tabindex]");
    if (heading) heading.focus();
  }

  document.addEventListener("DOMContentLoaded", () => draw(document));
  document.body.addEventListener("htmx:afterSettle", (event) => {
    draw(event.detail.target || document);
    if (event.detail.target && event.detail.target.id === "preview") focusHeading(event.detail.target);
  });
  document.body.addEventListener("htmx:responseError", (event) => {
    const target = document.getElementById("preview");
    if (!target) return;
    const status = event.detail.xhr.status;
    const why = status === 403
      ? "Refused: this needs an admin, or the page has expired — reload it and try again."
      : "The server could not answer (" + status + "). Nothing was stored; try again.";
    target.innerHTML = "";
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = why;
    target.appendChild(p);
  });
})();
