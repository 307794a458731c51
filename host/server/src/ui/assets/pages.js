// wasmboost dashboard pages: queues (live table), one queue (charts, config and grants,
// versions, dead letters, pause), task (search by id), hosts (with their last heartbeat),
// schedules. Each renders from the JSON API through core.js.
'use strict';

// ---- queues ----

const QUEUE_COLUMNS = [
  ['state', 'State'],
  ['version', 'Version'],
  ['queued', 'Queued'],
  ['delayed', 'Delayed'],
  ['running', 'Running'],
  ['succeeded', 'Succeeded'],
  ['failed', 'Failed'],
  ['dead_lettered', 'DLQ'],
  ['rate', 'Rate/s'],
  ['avg', 'Avg ms'],
  ['eta', 'Drain in'],
];

function cellValues(q) {
  return {
    state: q.paused ? 'paused' : 'running',
    version: q.version === null ? '–' : `v${q.version}`,
    queued: fmtInt(q.queued),
    delayed: fmtInt(q.delayed),
    running: fmtInt(q.running),
    succeeded: fmtInt(q.succeeded),
    failed: fmtInt(q.failed),
    dead_lettered: fmtInt(q.dead_lettered),
    rate: fmtNum(q.rate_per_sec_1m, 1),
    avg: fmtNum(q.avg_duration_ms, 2),
    // Nothing queued: nothing to drain (the host reports 0 s).
    eta: q.queued ? fmtDuration(q.eta_drain_secs) : '–',
  };
}

function queuesPage() {
  if (!may.read()) {
    page('Queues', h('p', { class: 'muted', text: 'This token has no read scope: it cannot list queues. Use the Task page to look up your tasks.' }));
    return;
  }
  const body = h('tbody', { id: 'queues-body' });
  const updated = h('p', { class: 'muted', id: 'queues-updated' });
  page(
    'Queues',
    h('div', { class: 'scroll' },
      h('table', { id: 'queues' },
        h('thead', {}, h('tr', {}, h('th', { text: 'Queue' }), QUEUE_COLUMNS.map(([, label]) => h('th', { text: label })))),
        body)),
    updated,
  );
  every(POLL_MS, async (current) => {
    const queues = await api('GET', '/v1/queues');
    if (!current()) return;
    updateQueueRows(body, queues);
    updated.textContent = `${queues.length} queue(s), updated ${new Date().toLocaleTimeString()}`;
  });
}

// Update rows in place (keyed by queue) so the table does not flicker or lose scroll position.
function updateQueueRows(body, queues) {
  const seen = new Set();
  for (const q of queues) {
    seen.add(q.queue);
    let row = body.querySelector(`tr[data-queue="${CSS.escape(q.queue)}"]`);
    if (!row) {
      row = h('tr', { 'data-queue': q.queue },
        h('td', {}, h('a', { href: `#/queue/${encodeURIComponent(q.queue)}`, text: q.queue })),
        QUEUE_COLUMNS.map(([key]) => h('td', { 'data-col': key })));
      body.append(row);
    }
    const values = cellValues(q);
    for (const [key] of QUEUE_COLUMNS) {
      const cell = row.querySelector(`td[data-col="${key}"]`);
      if (key === 'state') {
        cell.replaceChildren(h('span', { class: `badge ${values.state}`, text: values.state }));
      } else if (cell.textContent !== values[key]) {
        cell.textContent = values[key];
      }
    }
  }
  for (const row of [...body.children]) {
    if (!seen.has(row.dataset.queue)) row.remove();
  }
}

// ---- one queue ----

function queuePage(queue) {
  const path = `/v1/queues/${encodeURIComponent(queue)}`;
  const summary = h('dl', { class: 'kv', id: 'queue-summary' });
  const actions = h('div', { class: 'actions', id: 'queue-actions' });
  const charts = h('div', { class: 'grid' },
    h('div', { class: 'card' }, h('canvas', { id: 'chart-rate' })),
    h('div', { class: 'card' }, h('canvas', { id: 'chart-duration' })),
    h('div', { class: 'card' }, h('canvas', { id: 'chart-p50' })),
    h('div', { class: 'card' }, h('canvas', { id: 'chart-p99' })));
  const config = h('div', { id: 'queue-config' });
  const ranges = h('div', { class: 'actions ranges', id: 'ranges' });
  const versions = h('div', { id: 'versions' });
  const dlq = h('div', { id: 'dlq' });
  page(`Queue ${queue}`,
    actions,
    h('div', { class: 'card' }, summary),
    h('h2', { text: 'Activity' }),
    ranges,
    charts,
    h('p', { class: 'muted', text: 'Rate is tasks finished per second; durations are per bucket on this host: the average, and the median and 99th percentile (interpolated inside the /metrics duration buckets).' }),
    h('h2', { text: 'Config' }),
    config,
    h('h2', { text: 'Versions' }),
    versions,
    h('h2', { text: 'Dead letters' }),
    dlq);

  let paused = null;
  const pauseButton = h('button', {
    type: 'button',
    id: 'pause-toggle',
    onclick: async () => {
      pauseButton.disabled = true;
      try {
        const answer = await api('POST', `${path}/${paused ? 'resume' : 'pause'}`);
        paused = answer.paused;
        renderPause();
        const state = summary.querySelector('dd[data-field="state"]');
        if (state) state.textContent = paused ? 'paused' : 'running';
        flash(`queue ${queue} ${paused ? 'paused' : 'resumed'}`);
      } catch (err) {
        flash(err.message, true);
      } finally {
        pauseButton.disabled = false;
      }
    },
  });
  const renderPause = () => {
    pauseButton.textContent = paused ? 'Resume' : 'Pause';
    pauseButton.dataset.action = paused ? 'resume' : 'pause';
    pauseButton.className = paused ? '' : 'secondary';
  };
  if (may.pause()) actions.append(pauseButton);
  else actions.append(h('span', { class: 'muted', text: 'Pause, resume and rollback need a deploy token.' }));

  every(POLL_MS, async (current) => {
    const queues = await api('GET', '/v1/queues');
    if (!current()) return;
    const q = queues.find((row) => row.queue === queue);
    if (!q) {
      summary.replaceChildren(h('dd', { text: 'This host does not know this queue.' }));
      return;
    }
    paused = q.paused;
    renderPause();
    const v = cellValues(q);
    const rows = QUEUE_COLUMNS.map(([key, label]) => [label, v[key]]);
    rows.push(['Retried', fmtInt(q.retried)], ['Dead-lettered (total)', fmtInt(q.dead_lettered_total)]);
    rows.push(['Hosts', q.hosts.length ? q.hosts.join(', ') : '–']);
    summary.replaceChildren(...rows.flatMap(([label, value]) => [
      h('dt', { text: label }), h('dd', { 'data-field': label.toLowerCase(), text: value })]));
    renderConfig(config, queue, q);
  });

  chartsSection(path, ranges);
  versionsSection(path, versions);
  dlqSection(queue, path, dlq);
}

function chartsSection(path, ranges) {
  let chosen = RANGES[0];
  let timer = null;
  const buttons = RANGES.map((r) => h('button', {
    type: 'button',
    'data-range': r.key,
    text: r.label,
    onclick: (e) => {
      chosen = r;
      for (const b of buttons) b.setAttribute('aria-pressed', String(b === e.currentTarget));
      start();
    },
  }));
  buttons.forEach((b, i) => b.setAttribute('aria-pressed', String(i === 0)));
  ranges.append(...buttons);
  const draw = (history) => {
    const buckets = history[chosen.field] || [];
    const time = (ms) => (chosen.width >= 3600000 ? new Date(ms).toISOString().slice(5, 16).replace('T', ' ') : new Date(ms).toLocaleTimeString());
    window.lineChart($('#chart-rate'), buckets.map((b) => ({ x: b.start_ms, y: (b.succeeded + b.failed) / (chosen.width / 1000) })), { label: 'rate', unit: '/s', time });
    window.lineChart($('#chart-duration'), buckets.map((b) => ({ x: b.start_ms, y: b.succeeded + b.failed ? b.duration_us / (b.succeeded + b.failed) / 1000 : null })), { label: 'avg duration', unit: 'ms', time, color: '#a15c00' });
    const percentile = (field) => buckets.map((b) => ({ x: b.start_ms, y: b[field] === null || b[field] === undefined ? null : b[field] / 1000 }));
    window.lineChart($('#chart-p50'), percentile('p50_us'), { label: 'p50 duration', unit: 'ms', time, color: '#1f7a4d' });
    window.lineChart($('#chart-p99'), percentile('p99_us'), { label: 'p99 duration', unit: 'ms', time, color: '#b3261e' });
  };
  const start = () => {
    if (timer !== null) {
      clearInterval(timer);
      view.timers = view.timers.filter((t) => t !== timer);
    }
    every(chosen.poll, async (current) => {
      const history = await api('GET', `${path}/history`);
      if (current()) draw(history);
    });
    timer = view.timers[view.timers.length - 1];
  };
  start();
}

// The queue's configured policy keys and its grants, as text (a grant names hosts and paths,
// never a secret's value: the host sends a secret's source only).
function renderConfig(box, queue, q) {
  const entries = Object.entries(q.config || {}).filter(([, v]) => v !== null && v !== undefined);
  const show = (v) => (typeof v === 'object' ? JSON.stringify(v) : String(v));
  const parts = [];
  if (entries.length) {
    parts.push(h('dl', { class: 'kv', id: 'config-keys' }, entries.flatMap(([k, v]) => [
      h('dt', { text: k }), h('dd', { 'data-key': k, text: show(v) })])));
  } else {
    parts.push(h('p', { class: 'muted', text: `[queues.${queue}] sets nothing: every policy is the host's default.` }));
  }
  parts.push(h('h3', { text: 'Grants' }));
  parts.push(q.grants
    ? h('pre', { id: 'config-grants', text: JSON.stringify(q.grants, null, 2) })
    : h('p', { class: 'muted', id: 'config-grants', text: 'Nothing granted: no network, files, kv, publishes, config or secrets.' }));
  const text = JSON.stringify([q.config, q.grants]);
  if (box.dataset.shown !== text) {
    box.dataset.shown = text;
    box.replaceChildren(h('div', { class: 'card' }, parts));
  }
}

async function versionsSection(path, box) {
  const load = async () => {
    let list;
    try {
      list = await api('GET', `${path}/versions`);
    } catch (err) {
      box.replaceChildren(h('p', { class: 'error', text: err.message }));
      return;
    }
    if (!list.length) {
      box.replaceChildren(h('p', { class: 'muted', text: 'No module deployed.' }));
      return;
    }
    const rows = list.slice().reverse().map((v) => h('tr', { 'data-version': v.number },
      h('td', { text: `v${v.number}${v.current ? ' (current)' : ''}` }),
      h('td', { class: 'text', text: v.sha256.slice(0, 16) }),
      h('td', { text: fmtBytes(v.size) }),
      h('td', { text: fmtTime(v.deployed_ms) }),
      h('td', {}, !v.current && may.rollback() ? h('button', {
        type: 'button',
        class: 'secondary',
        'data-action': 'rollback',
        text: 'Roll back to this',
        onclick: async () => {
          if (!window.confirm(`Bind the queue to version ${v.number}?`)) return;
          try {
            const now = await api('POST', `${path}/rollback`, { version: v.number });
            flash(`now on version ${now.number}`);
            load();
          } catch (err) {
            flash(err.message, true);
          }
        },
      }) : null)));
    box.replaceChildren(h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Version', 'sha256', 'Size', 'Deployed', ''].map((t) => h('th', { class: t === 'sha256' ? 'text' : null, text: t })))),
      h('tbody', {}, rows))));
  };
  load();
}

function dlqSection(queue, path, box) {
  const list = h('div', { id: 'dlq-list' });
  const actions = h('div', { class: 'actions' });
  box.replaceChildren(actions, list);
  const act = (label, method, suffix, verb, danger) => h('button', {
    type: 'button',
    class: danger ? 'danger' : '',
    'data-action': verb,
    text: label,
    onclick: async () => {
      if (danger && !window.confirm(`Delete every dead letter of ${queue}? This cannot be undone.`)) return;
      try {
        const answer = await api(method, `${path}/dlq${suffix}`);
        flash(`${answer.count} dead letter(s) ${verb === 'replay' ? 'replayed' : 'purged'}`);
      } catch (err) {
        flash(err.message, true);
      }
    },
  });
  if (may.dlq()) {
    actions.append(act('Replay all', 'POST', '/replay', 'replay', false), act('Purge', 'DELETE', '', 'purge', true));
  } else {
    actions.append(h('span', { class: 'muted', text: 'Replay and purge need an admin token.' }));
  }
  every(POLL_MS * 2, async (current) => {
    const dead = await api('GET', `${path}/dlq?limit=100`);
    if (!current()) return;
    if (!dead.length) {
      list.replaceChildren(h('p', { class: 'muted', text: 'The dead-letter queue is empty.' }));
      return;
    }
    list.replaceChildren(h('div', { class: 'scroll' }, h('table', {},
      h('thead', {}, h('tr', {}, h('th', { text: 'Task' }), h('th', { class: 'text', text: 'Reason' }), h('th', { text: 'Dead since' }))),
      h('tbody', {}, dead.map((d) => h('tr', { 'data-task': d.message.id },
        h('td', {}, h('a', { href: `#/task/${encodeURIComponent(d.message.id)}`, text: d.message.id })),
        h('td', { class: 'text', text: d.reason }),
        h('td', { text: fmtTime(d.dead_ms) })))))));
  });
}

// ---- task ----

function taskPage(id) {
  const input = h('input', { id: 'task-id', type: 'search', placeholder: 'task id', value: id || '', spellcheck: 'false' });
  const result = h('div', { id: 'task-result' });
  const form = h('form', {
    id: 'task-form',
    onsubmit: (e) => {
      e.preventDefault();
      const wanted = input.value.trim();
      if (wanted) location.hash = `#/task/${encodeURIComponent(wanted)}`;
    },
  }, input, h('button', { type: 'submit', id: 'task-search', text: 'Find' }));
  page('Task', form, result);
  if (!may.task()) {
    result.replaceChildren(h('p', { class: 'muted', text: 'Task records need a read or publish token.' }));
    return;
  }
  if (!id) return;
  every(POLL_MS, async (current) => {
    let record;
    try {
      record = await api('GET', `/v1/tasks/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!current()) return;
      result.replaceChildren(h('p', { class: 'error', id: 'task-error', text: err.status === 404 ? `No task ${id} on this host.` : err.message }));
      return;
    }
    if (current()) renderRecord(result, record);
  });
}

function renderRecord(box, r) {
  const rows = [
    ['Task', r.task_id],
    ['Queue', h('a', { href: `#/queue/${encodeURIComponent(r.queue)}`, text: r.queue })],
    ['State', h('span', { class: `state-${r.state}`, 'data-field': 'state', text: r.state })],
    ['Attempts', r.attempts],
    ['Module version', r.module_version === null ? '–' : `v${r.module_version}`],
    ['Published', fmtTime(r.published_ms)],
    ['Started', fmtTime(r.started_ms)],
    ['Finished', fmtTime(r.finished_ms)],
    ['Duration', r.duration_us === null ? '–' : `${(r.duration_us / 1000).toFixed(3)} ms`],
    ['Fuel', fmtInt(r.fuel_used)],
    ['Peak memory', fmtBytes(r.peak_memory_bytes)],
  ];
  const children = [h('dl', { class: 'kv' }, rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]))];
  if (r.error) children.push(h('h2', { text: 'Error' }), h('pre', { id: 'task-error-text', text: r.error }));
  if (r.result !== null && r.result !== undefined) {
    children.push(h('h2', { text: 'Result' }), h('pre', { id: 'task-result-json', text: JSON.stringify(r.result, null, 2) }));
  }
  box.replaceChildren(h('div', { class: 'card' }, children));
}

// ---- hosts ----

function hostsPage() {
  const body = h('tbody', { id: 'hosts-body' });
  page('Hosts',
    h('div', { class: 'scroll' }, h('table', { id: 'hosts' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Host' }), h('th', { class: 'text', text: 'Queues' }),
        h('th', { text: 'Last heartbeat' }), h('th', { text: 'Up since' }))),
      body)),
    h('p', { class: 'muted', text: 'Hosts whose heartbeat (every 5 s, kept 15 s) is live on the state store.' }));
  if (!may.read()) return;
  every(POLL_MS, async (current) => {
    const hosts = await api('GET', '/v1/hosts');
    if (!current()) return;
    const now = Date.now();
    body.replaceChildren(...hosts.map((host) => h('tr', { 'data-host': host.host_id },
      h('td', { text: host.host_id }),
      h('td', { class: 'text' }, host.queues.slice().sort().flatMap((n, i) => [i ? ', ' : '', h('a', { href: `#/queue/${encodeURIComponent(n)}`, text: n })])),
      h('td', { 'data-col': 'beat', title: fmtTime(host.beat_ms), text: host.beat_ms ? `${fmtDuration(Math.max(0, now - host.beat_ms) / 1000)} ago` : '–' }),
      h('td', { text: fmtTime(host.started_ms) }))));
  });
}

// ---- schedules ----

function schedulesPage() {
  const body = h('tbody', { id: 'schedules-body' });
  page('Schedules',
    h('div', { class: 'scroll' }, h('table', { id: 'schedules' },
      h('thead', {}, h('tr', {}, ['Schedule', 'Queue', 'Trigger', 'Next', 'Last', 'Last task'].map((t) => h('th', { class: t === 'Trigger' ? 'text' : null, text: t })))),
      body)),
    h('p', { class: 'muted', text: 'The schedules in the host\'s config ([[schedules]]), with their next and last ticks.' }));
  if (!may.read()) return;
  every(POLL_MS * 2, async (current) => {
    const list = await api('GET', '/v1/schedules');
    if (!current()) return;
    if (!list.length) {
      body.replaceChildren(h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No schedules configured.' })));
      return;
    }
    body.replaceChildren(...list.map((s) => h('tr', { 'data-schedule': s.name },
      h('td', { text: s.name }),
      h('td', {}, h('a', { href: `#/queue/${encodeURIComponent(s.queue)}`, text: s.queue })),
      h('td', { class: 'text', text: s.trigger }),
      h('td', { text: fmtTime(s.next_ms) }),
      h('td', { text: fmtTime(s.last_ms) }),
      h('td', {}, s.last_task_id ? h('a', { href: `#/task/${encodeURIComponent(s.last_task_id)}`, text: `${s.last_task_id} (${s.last_state || 'expired'})` }) : '–'))));
  });
}
