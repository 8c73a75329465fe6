// feeddock dashboard: plain JavaScript, no build step, nothing loaded from elsewhere.
//
// Every second it reads GET api/v1/websockets/get_client_status?name=all (the counters are in
// each status's `metrics`). For the chosen connection it opens the browser's own WebSocket to
// the connection's broadcast server and keeps the latest record per symbol and a price series
// per symbol. A frame holds one JSON record, or several separated by newlines (batched
// framing): both are read the same way. The buttons call the REST API with the key and token
// typed above (kept in this browser's localStorage).
"use strict";

const API = "api/v1/websockets";
const REFRESH_MS = 1000;
const SERIES_POINTS = 600;
const REPLAY = 200;

const state = {
  apiKey: localStorage.getItem("feeddock.apiKey") || "",
  authToken: localStorage.getItem("feeddock.authToken") || "",
  statuses: [],
  selected: null,
  socket: null,
  socketUrl: null,
  latest: new Map(),
  series: new Map(),
  chartSymbol: null,
  points: 0,
  drawPending: false,
};

const $ = (selector) => document.querySelector(selector);

function headers() {
  const result = {};
  if (state.apiKey) result["X-API-Key"] = state.apiKey;
  if (state.authToken) result["X-Auth-Token"] = state.authToken;
  return result;
}

async function call(method, endpoint, params = {}) {
  const url = new URL(`${API}/${endpoint}`, document.baseURI);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const response = await fetch(url, { method, headers: headers() });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const kind = body && body.error ? `${body.error}: ` : "";
    const detail = (body && body.detail) || response.statusText;
    throw new Error(`${response.status} ${kind}${detail}`);
  }
  return body;
}

function say(text, kind = "error") {
  const box = $("#message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

// -- the connections table -------------------------------------------------------------------

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function yesNo(row, value) {
  cell(row, value ? "yes" : "no", value ? "yes" : "no");
}

function number(value, digits = 0) {
  if (value === undefined || value === null) return "";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits });
}

function renderConnections() {
  const body = $("#connections tbody");
  body.replaceChildren();
  for (const status of state.statuses) {
    const metrics = status.metrics || {};
    const provider = metrics.provider || {};
    const broadcast = metrics.broadcast || {};
    const row = body.insertRow();
    row.dataset.name = status.name;
    if (status.name === state.selected) row.classList.add("selected");
    cell(row, status.name);
    cell(row, (metrics.labels || {}).provider);
    cell(row, status.subscribed_symbols);
    yesNo(row, status.is_running);
    yesNo(row, status.is_broadcasting);
    cell(row, status.broadcast_address);
    cell(row, number(provider.written), "num");
    cell(row, number(metrics.records_per_second, 1), "num");
    cell(row, number(provider.dropped), "num");
    cell(row, number(provider.invalid), "num");
    cell(row, number(provider.reconnects), "num");
    cell(row, number(broadcast.listeners), "num");
    cell(row, status.last_error, "error");
    row.addEventListener("click", () => select(status.name));
  }
  $("#empty").hidden = state.statuses.length > 0;
}

async function refresh() {
  try {
    const body = await call("GET", "get_client_status", { name: "all" });
    state.statuses = body.results || [];
    $("#refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
    if ($("#message").className === "error" && $("#message").textContent.startsWith("refresh")) {
      say("");
    }
  } catch (error) {
    say(`refresh: ${error.message}`);
  }
  renderConnections();
  renderDetail();
}

// -- the chosen connection ---------------------------------------------------------------------

function current() {
  return state.statuses.find((status) => status.name === state.selected) || null;
}

function select(name) {
  if (name !== state.selected) {
    state.selected = name;
    closeSocket();
    state.latest.clear();
    state.series.clear();
    state.chartSymbol = null;
    state.points = 0;
    $("#chart").dataset.points = "0";
    $("#chart-symbol").replaceChildren();
  }
  renderConnections();
  renderDetail();
}

function renderDetail() {
  const status = current();
  $("#detail").hidden = status === null;
  if (status === null) {
    closeSocket();
    return;
  }
  $("#detail-name").textContent = status.name;
  $("#detail-state").textContent = status.is_running ? "running" : "stopped";
  if (status.is_broadcasting && status.broadcast_address) {
    openSocket(status.broadcast_address);
  } else {
    closeSocket();
    $("#stream-state").textContent = "Not broadcasting: start the broadcast to see live records.";
  }
  renderLatest();
  scheduleDraw();
}

function streamUrl(address) {
  const url = new URL(address);
  // A server listening on every interface is reached at the host this page came from.
  if (["0.0.0.0", "[::]", "::"].includes(url.hostname)) url.hostname = location.hostname;
  url.searchParams.set("replay", String(REPLAY));
  if (state.authToken) url.searchParams.set("auth_token", state.authToken);
  return url.toString();
}

function openSocket(address) {
  const url = streamUrl(address);
  if (state.socketUrl === url) return;
  closeSocket();
  state.socketUrl = url;
  const socket = new WebSocket(url);
  state.socket = socket;
  $("#stream-state").textContent = `connecting to ${address} ...`;
  socket.onopen = () => {
    $("#stream-state").textContent = `live from ${address}`;
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") receive(event.data);
  };
  socket.onclose = (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    state.socketUrl = null; // the next refresh reconnects while it still broadcasts
    const reason = event.reason ? `: ${event.reason}` : "";
    $("#stream-state").textContent = `stream closed (${event.code}${reason})`;
  };
}

function closeSocket() {
  const socket = state.socket;
  state.socket = null;
  state.socketUrl = null;
  if (socket) socket.close();
}

function priceOf(record) {
  if (typeof record.last_price === "number") return record.last_price;
  if (typeof record.bid_price === "number" && typeof record.ask_price === "number") {
    return (record.bid_price + record.ask_price) / 2;
  }
  if (typeof record.price === "number") return record.price;
  return null;
}

function receive(text) {
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let record;
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    const symbol = record.symbol;
    if (typeof symbol !== "string") continue;
    state.latest.set(symbol, Object.assign(state.latest.get(symbol) || {}, record));
    const price = priceOf(record);
    if (price === null) continue;
    if (!state.series.has(symbol)) {
      state.series.set(symbol, []);
      const option = document.createElement("option");
      option.value = option.textContent = symbol;
      $("#chart-symbol").append(option);
      if (state.chartSymbol === null) state.chartSymbol = symbol;
    }
    const series = state.series.get(symbol);
    series.push(price);
    if (series.length > SERIES_POINTS) series.shift();
    state.points += 1;
  }
  $("#chart").dataset.points = String(state.points);
  scheduleDraw();
}

function renderLatest() {
  const body = $("#latest tbody");
  body.replaceChildren();
  for (const symbol of [...state.latest.keys()].sort()) {
    const record = state.latest.get(symbol);
    const row = body.insertRow();
    row.dataset.symbol = symbol;
    cell(row, symbol);
    cell(row, record.last_price, "num");
    cell(row, record.last_size, "num");
    cell(row, record.bid_price, "num");
    cell(row, record.ask_price, "num");
    cell(row, String(record.date || "").slice(11, 23));
  }
}

function scheduleDraw() {
  if (state.drawPending) return;
  state.drawPending = true;
  requestAnimationFrame(() => {
    state.drawPending = false;
    renderLatest();
    drawChart();
  });
}

function drawChart() {
  const canvas = $("#chart");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  context.font = "12px system-ui, sans-serif";
  const series = state.series.get(state.chartSymbol) || [];
  if (series.length < 2) {
    context.fillStyle = "#6b7280";
    context.fillText("waiting for records ...", 12, 20);
    return;
  }
  const low = Math.min(...series);
  const high = Math.max(...series);
  const span = high - low || Math.abs(high) || 1;
  const left = 64;
  const top = 12;
  const plotWidth = width - left - 12;
  const plotHeight = height - top - 24;
  const x = (index) => left + (index / (series.length - 1)) * plotWidth;
  const y = (value) => top + (1 - (value - low) / span) * plotHeight;
  context.strokeStyle = "#e5e7eb";
  context.strokeRect(left, top, plotWidth, plotHeight);
  context.fillStyle = "#6b7280";
  context.fillText(number(high, 4), 4, top + 10);
  context.fillText(number(low, 4), 4, top + plotHeight);
  context.fillText(`${state.chartSymbol}: ${series.length} points`, left, height - 6);
  context.strokeStyle = "#2563eb";
  context.lineWidth = 1.5;
  context.beginPath();
  series.forEach((value, index) => {
    if (index === 0) context.moveTo(x(index), y(value));
    else context.lineTo(x(index), y(value));
  });
  context.stroke();
  const last = series[series.length - 1];
  context.fillStyle = "#1d2430";
  context.fillText(number(last, 4), width - 80, Math.max(top + 10, y(last) - 4));
}

// -- actions -----------------------------------------------------------------------------------

const NEEDS_SYMBOLS = new Set(["subscribe", "unsubscribe"]);

async function act(action) {
  const name = state.selected;
  if (!name) return;
  const params = { name };
  if (NEEDS_SYMBOLS.has(action)) {
    params.symbol = $("#symbols").value.trim();
    if (!params.symbol) {
      say(`${action}: type the symbols first`);
      return;
    }
  }
  if (action === "kill" && !confirm(`Kill ${name}? Its temporary results are deleted.`)) return;
  try {
    const body = await call("POST", action, params);
    const warnings = (body.warnings || []).join(" ");
    say(`${action} ${name}: done${warnings ? ` (${warnings})` : ""}`, "info");
    if (action === "kill") select(null);
  } catch (error) {
    say(`${action} ${name}: ${error.message}`);
  }
  await refresh();
}

function start() {
  $("#api-key").value = state.apiKey;
  $("#auth-token").value = state.authToken;
  $("#credentials").addEventListener("submit", (event) => {
    event.preventDefault();
    state.apiKey = $("#api-key").value.trim();
    state.authToken = $("#auth-token").value.trim();
    localStorage.setItem("feeddock.apiKey", state.apiKey);
    localStorage.setItem("feeddock.authToken", state.authToken);
    closeSocket();
    refresh();
  });
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }
  $("#chart-symbol").addEventListener("change", (event) => {
    state.chartSymbol = event.target.value;
    scheduleDraw();
  });
  refresh();
  setInterval(refresh, REFRESH_MS);
}

start();
