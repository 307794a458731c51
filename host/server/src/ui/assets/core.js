// wasmboost dashboard, shared parts: the API client, what the token may do, DOM helpers that
// write text only (guest results and errors are untrusted), formatting, and per-page polling.
'use strict';

const TOKEN_KEY = 'wasmboost.token';
const POLL_MS = 1000;
const RANGES = [
  { key: 'minute', label: 'last minute', field: 'per_second', width: 1000, poll: 1000 },
  { key: 'hour', label: 'last hour', field: 'per_minute', width: 60000, poll: 5000 },
  { key: 'day', label: 'last day', field: 'per_hour', width: 3600000, poll: 30000 },
  { key: 'days10', label: '10 days', field: 'per_day', width: 86400000, poll: 60000 },
];

let me = null; // GET /v1/whoami
let view = { timers: [], generation: 0 };

// ---- the API ----

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (method !== 'GET') {
    // The host's browser guard requires JSON on every state-changing route.
    headers['Content-Type'] = 'application/json';
    init.body = body === undefined ? '' : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401 && path !== '/v1/whoami') showLogin(error.message);
    throw new ApiError(response.status, error.code || 'error', error.message || `HTTP ${response.status}`);
  }
  return data;
}

// ---- scopes (the host checks again; this only hides what it would refuse) ----

function has(scope) {
  return !!me && (me.scopes.includes(scope) || me.scopes.includes('admin'));
}

const may = {
  read: () => has('read'),
  pause: () => has('deploy'),
  rollback: () => has('deploy'),
  dlq: () => has('admin'),
  task: () => has('read') || has('publish'),
};

// ---- DOM helpers: text only ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (selector) => document.querySelector(selector);

function flash(message, isError) {
  const el = $('#flash');
  el.textContent = message;
  el.className = isError ? 'error' : '';
  el.hidden = !message;
}

function fmtInt(n) {
  return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US');
}

function fmtNum(n, digits) {
  return n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

function fmtTime(ms) {
  return ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC') : '–';
}

function fmtDuration(secs) {
  if (secs === null || secs === undefined || !Number.isFinite(secs)) return '–';
  if (secs < 1) return '<1 s';
  if (secs < 120) return `${Math.round(secs)} s`;
  if (secs < 7200) return `${Math.round(secs / 60)} min`;
  return `${(secs / 3600).toFixed(1)} h`;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

// ---- pages and polling ----

function leavePage() {
  for (const t of view.timers) clearInterval(t);
  view = { timers: [], generation: view.generation + 1 };
  flash('');
}

// Run `tick` now and every `ms` while this page is shown; answers for a page already left are
// dropped, and a failure shows in the flash line without stopping the poll.
function every(ms, tick) {
  const generation = view.generation;
  let busy = false;
  const run = async () => {
    if (busy || generation !== view.generation) return;
    busy = true;
    try {
      await tick(() => generation === view.generation);
    } catch (err) {
      if (generation === view.generation) flash(err.message, true);
    } finally {
      busy = false;
    }
  };
  run();
  view.timers.push(setInterval(run, ms));
}

function page(title, ...children) {
  const el = $('#page');
  el.replaceChildren(h('h1', { text: title }), ...children);
  el.hidden = false;
  return el;
}
