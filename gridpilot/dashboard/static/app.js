// gridpilot dashboard: the live connection shared by every page.
// Frames from /live are re-dispatched on <body> as "gridpilot:frame" events; pages listen for
// what they show. After a reconnect (a server restart, a network blip) <body> gets
// "gridpilot:resync", on which htmx fragments reload themselves (hx-trigger="gridpilot:resync from:body").
(function () {
  "use strict";
  const body = document.body;
  const watch = body.dataset.live;
  if (!watch) return;
  const stateLabel = document.getElementById("live-state");
  const setState = (state, text) => {
    if (!stateLabel) return;
    stateLabel.dataset.state = state;
    stateLabel.textContent = text;
  };
  const live = { frames: 0, events: 0, connects: 0 };
  window.gridpilotLive = live;

  let delay = 500;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = watch.startsWith("device:") ? "?device=" + encodeURIComponent(watch.slice(7)) : "";
    const socket = new WebSocket(scheme + "//" + location.host + "/live" + query);
    socket.onopen = () => {
      delay = 500;
      live.connects += 1;
      setState("live", "live");
      if (live.connects > 1) body.dispatchEvent(new CustomEvent("gridpilot:resync"));
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type !== "events") return;
      live.frames += 1;
      live.events += frame.events.length;
      if (frame.dropped) body.dispatchEvent(new CustomEvent("gridpilot:resync"));
      if (frame.fleet) updateFleetCounts(frame.fleet);
      body.dispatchEvent(new CustomEvent("gridpilot:frame", { detail: frame }));
    };
    socket.onclose = (closed) => {
      if (closed.code === 4401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); return; }
      setState("reconnecting", "reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 5000);
    };
  }

  function updateFleetCounts(fleet) {
    for (const [status, count] of Object.entries(fleet.status || {})) {
      document.querySelectorAll('[data-fleet-status="' + status + '"]').forEach((el) => { el.textContent = count; });
    }
    body.dispatchEvent(new CustomEvent("gridpilot:fleet", { detail: fleet }));
  }

  connect();
})();
