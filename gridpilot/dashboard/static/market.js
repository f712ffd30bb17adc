// Market page: one ECharts chart per [data-chart] element, from the page's JSON (#market-data).
(function () {
  "use strict";
  const source = document.getElementById("market-data");
  if (!source || !window.echarts) return;
  const data = JSON.parse(source.textContent);
  const zip = (xs, ys) => xs.map((x, i) => [x, ys[i]]);
  const base = {
    animation: false,
    tooltip: { trigger: "axis" },
    legend: { top: 0, type: "scroll" },
    grid: { left: 56, right: 56, top: 36, bottom: 40 },
  };
  const time = { type: "time" };
  const days = (rows) => rows.map((r) => r.day);

  const charts = {
    prices: () => ({
      xAxis: time, yAxis: { type: "value", scale: true },
      series: [
        { name: "actual", type: "line", step: "start", showSymbol: false, data: zip(data.prices.times, data.prices.actual) },
        { name: "forecast", type: "line", step: "start", showSymbol: false, lineStyle: { type: "dashed" },
          data: zip(data.prices.times, data.prices.forecast) },
      ],
    }),
    mae: () => ({
      xAxis: { type: "category", data: days(data.daily) }, yAxis: { type: "value", name: "MAE" },
      series: [{ name: "MAE", type: "bar", data: data.daily.map((d) => d.mae) }],
    }),
    positions: () => ({
      xAxis: time, yAxis: { type: "value", name: "MWh" },
      series: [
        { name: "charge", type: "line", step: "start", showSymbol: false, areaStyle: { opacity: 0.35 },
          data: zip(data.positions.times, data.positions.charge_mwh) },
        { name: "discharge", type: "line", step: "start", showSymbol: false, areaStyle: { opacity: 0.35 },
          data: zip(data.positions.times, data.positions.discharge_mwh) },
        { name: "position bid on", type: "line", step: "start", showSymbol: false,
          data: zip(data.positions.times, data.positions.bid_position_mw) },
      ],
    }),
    bids: () => {
      const sign = (b) => (b.side === "buy" ? 1 : -1);
      return {
        xAxis: time,
        yAxis: [{ type: "value", name: "MW (buy +, sell −)" }, { type: "value", name: "price", scale: true }],
        series: [
          { name: "bid", type: "bar", data: data.bids.map((b) => [b.time, sign(b) * b.quantity_mw]) },
          { name: "accepted", type: "bar", data: data.bids.map((b) => [b.time, b.accepted_mw === null ? null : sign(b) * b.accepted_mw]) },
          { name: "clearing price", type: "scatter", yAxisIndex: 1, symbolSize: 9,
            data: data.bids.map((b) => [b.time, b.clearing_price]) },
        ],
      };
    },
    revenue: () => ({
      xAxis: { type: "category", data: days(data.daily) }, yAxis: { type: "value" },
      series: [
        { name: "per day", type: "bar", data: data.daily.map((d) => d.revenue) },
        { name: "cumulative", type: "line", data: data.daily.map((d) => d.cumulative) },
      ],
    }),
    value: () => ({
      xAxis: { type: "category", data: days(data.value) }, yAxis: { type: "value" },
      series: [
        { name: "perfect foresight", type: "bar", data: data.value.map((d) => d.perfect) },
        { name: "forecast plan", type: "bar", data: data.value.map((d) => d.forecast_plan) },
        { name: "bids", type: "bar", data: data.value.map((d) => d.bids) },
      ],
    }),
  };

  document.querySelectorAll(".market-chart[data-chart]").forEach((el) => {
    const build = charts[el.dataset.chart];
    if (!build) return;
    const chart = echarts.init(el);
    chart.setOption(Object.assign({}, base, build()));
    window.addEventListener("resize", () => chart.resize());
  });
})();
