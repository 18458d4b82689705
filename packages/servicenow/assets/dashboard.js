// holdfast dashboard: renders the mirror's state and follows it live over server-sent events.
// Every value from ServiceNow goes through textContent (or a checked href): never through HTML.
'use strict';
(function () {
  const TABLE_LABELS = { incident: 'Incidents', change_task: 'Change tasks', sc_task: 'Catalog tasks' };
  const state = JSON.parse(document.getElementById('initial-state').textContent);
  let updates = 0;
  let drill = null; // { group, name, table }

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child instanceof window.Node ? child : document.createTextNode(String(child)));
    return node;
  };
  const $ = (id) => document.getElementById(id);
  const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : 'never');
  const fmtAge = (glide) => {
    const ms = Date.now() - Date.parse(glide.replace(' ', 'T') + 'Z');
    if (!Number.isFinite(ms)) return '';
    const m = Math.floor(ms / 60000);
    if (m < 60) return m + ' min';
    const h = Math.floor(m / 60);
    return h < 48 ? h + ' h' : Math.floor(h / 24) + ' d';
  };
  const fmtLag = (s) => (s === undefined || s === null ? '' : s < 120 ? s + ' s' : Math.round(s / 60) + ' min');
  const safeHref = (url) => (/^https?:\/\//.test(url) ? url : '#');

  function renderHeader() {
    const { status } = state;
    $('replica').textContent = 'replica ' + status.replica;
    $('store').textContent = status.store.kind + (status.store.ok ? '' : ' (unavailable)');
    const up = status.upstream;
    const banner = $('banner');
    const down = !up.reachable || up.breaker === 'open' || up.breaker === 'isolated';
    banner.hidden = !down && !up.stalled;
    banner.textContent = down
      ? 'The ServiceNow instance is unreachable' + (up.lastError ? ' (' + up.lastError + ')' : '') + '. Data as of ' + fmtTime(up.lastContactAt) + '.'
      : up.stalled
        ? 'The ServiceNow instance has not answered for ' + fmtLag(up.waitingS) + ': the counts may be stale. Last answer ' + fmtTime(up.lastContactAt) + '.'
        : '';
    const storeBanner = $('store-banner');
    storeBanner.hidden = status.store.ok;
    storeBanner.textContent = status.store.ok ? '' : 'The store is unavailable (' + status.store.error + '): showing the last good data.';
  }

  function progress(loaded, expected) {
    const bar = el('progress', { max: String(expected || 1), value: String(Math.min(loaded || 0, expected || 1)) });
    return el('span', { class: 'progress' }, bar, ' ' + (loaded || 0) + (expected ? ' / ' + expected : ''));
  }

  function syncState(t) {
    const kept = t.refusedCheck ? ' · kept ' + t.refusedCheck.deletes + ' of ' + t.refusedCheck.stored + ' records the instance no longer lists (check refused)' : '';
    if (t.lastError) return 'error: ' + t.lastError + kept;
    const up = state.status.upstream;
    if (t.inProgress && up.stalled) return 'waiting for the instance (' + fmtLag(up.waitingS) + ')' + kept;
    return (t.inProgress ? (t.mode === 'full' ? 'first load' : 'syncing') : t.lastSuccessAt ? 'up to date' : 'waiting') + kept;
  }

  function renderSync() {
    const { status } = state;
    const warm = $('warm');
    warm.replaceChildren();
    if (!status.ready) {
      const w = status.warm;
      warm.append('Warming the critical groups: ', w ? progress(w.done, w.total) : 'starting', w ? ' (' + w.group + ')' : '');
    }
    const body = $('sync-table').tBodies[0];
    body.replaceChildren(...Object.entries(status.tables).map(([table, t]) => el('tr', { 'data-table': table },
      el('td', {}, table),
      el('td', { class: 'num' }, t.records),
      el('td', {}, fmtTime(t.lastSuccessAt)),
      el('td', {}, fmtLag(t.lagS)),
      el('td', {}, syncState(t)),
      el('td', {}, t.mode === 'full' && (t.loaded || t.expected) ? progress(t.loaded, t.expected) : ''),
    )));
  }

  function chart(id, values, max) {
    const svg = $(id);
    const ns = 'http://www.w3.org/2000/svg';
    svg.replaceChildren();
    if (values.length === 0) return;
    const top = Math.max(max || 0, ...values.map((v) => v || 0), 1);
    const step = 300 / Math.max(1, values.length - 1);
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', values.map((v, i) => (i * step).toFixed(1) + ',' + (58 - ((v || 0) / top) * 54).toFixed(1)).join(' '));
    svg.append(line);
  }

  function renderHealth() {
    const points = state.health;
    const last = points[points.length - 1];
    chart('chart-rps', points.map((p) => p.rps));
    chart('chart-p99', points.map((p) => p.p99Ms));
    chart('chart-absorbed', points.map((p) => p.retries + p.replays));
    $('now-rps').textContent = last ? String(last.rps) : '';
    $('now-p99').textContent = last && last.p99Ms !== null ? last.p99Ms + ' ms' : '';
    $('now-absorbed').textContent = last ? last.retries + ' retries, ' + last.replays + ' replays' : '';
    const svg = $('chart-breaker');
    svg.replaceChildren();
    const width = 300 / Math.max(1, points.length);
    points.forEach((p, i) => {
      const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      rect.setAttribute('x', (i * width).toFixed(1));
      rect.setAttribute('y', '10');
      rect.setAttribute('width', (width + 0.5).toFixed(1));
      rect.setAttribute('height', '40');
      rect.setAttribute('class', 'breaker-' + p.breaker);
      svg.append(rect);
    });
    $('now-breaker').textContent = last ? last.breaker : state.status.upstream.breaker;
  }

  function renderGroups() {
    const { summary, status } = state;
    const tables = Object.keys(status.buckets).filter((t) => status.buckets[t].length > 0);
    const table = $('group-table');
    const head1 = el('tr', {}, el('th', { rowspan: '2' }, 'group'), ...tables.map((t) => el('th', { colspan: String(status.buckets[t].length), class: 'table-head' }, TABLE_LABELS[t] || t)), el('th', { rowspan: '2' }, 'total'));
    const head2 = el('tr', {}, ...tables.flatMap((t) => status.buckets[t].map((b) => el('th', { class: 'bucket' }, b))));
    table.tHead.replaceChildren(head1, head2);
    const rows = summary.groups.map((g) => el('tr', { 'data-group': g.id },
      el('th', { scope: 'row' }, g.name),
      ...tables.flatMap((t) => status.buckets[t].map((b) => {
        const n = (g.counts[t] && g.counts[t][b]) || 0;
        return el('td', { class: 'num' }, n === 0 ? '' : el('button', { type: 'button', 'data-table': t, 'data-bucket': b, onclick: () => openDrill(g, t) }, n));
      })),
      el('td', { class: 'num total' }, g.total),
    ));
    table.tBodies[0].replaceChildren(...rows);
    if (rows.length === 0) table.tBodies[0].append(el('tr', {}, el('td', { colspan: '99' }, 'No waiting work (yet).')));
    const totals = el('tr', {}, el('th', { scope: 'row' }, 'all groups'),
      ...tables.flatMap((t) => status.buckets[t].map((b) => el('td', { class: 'num' }, (summary.totals[t] && summary.totals[t][b]) || 0))),
      el('td', { class: 'num total' }, summary.groups.reduce((s, g) => s + g.total, 0)));
    table.tFoot.replaceChildren(totals);
  }

  async function openDrill(group, table) {
    drill = { group: group.id, name: group.name, table };
    await renderDrill();
  }

  async function renderDrill() {
    if (!drill) return;
    const section = $('drill');
    section.hidden = false;
    $('drill-title').textContent = (TABLE_LABELS[drill.table] || drill.table) + ' waiting in ' + drill.name;
    const res = await fetch('/api/groups/' + encodeURIComponent(drill.group || '-') + '/' + encodeURIComponent(drill.table));
    const body = $('drill-table').tBodies[0];
    if (!res.ok) {
      body.replaceChildren(el('tr', {}, el('td', { colspan: '4' }, 'Could not load the list (' + res.status + ').')));
      return;
    }
    const { items } = await res.json();
    body.replaceChildren(...items.map((item) => el('tr', { 'data-sys-id': item.sys_id },
      el('td', {}, el('a', { href: safeHref(item.url), target: '_blank', rel: 'noreferrer' }, item.number)),
      el('td', { class: 'desc' }, item.short_description),
      el('td', {}, item.bucket),
      el('td', { class: 'num' }, fmtAge(item.opened_at)),
    )));
  }

  function render() {
    renderHeader();
    renderSync();
    renderHealth();
    renderGroups();
    document.body.dataset.updates = String(updates);
  }

  render();
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => { $('live').textContent = 'live'; $('live').className = 'live on'; });
  source.addEventListener('error', () => { $('live').textContent = 'reconnecting…'; $('live').className = 'live off'; });
  source.addEventListener('summary', (e) => {
    const data = JSON.parse(e.data);
    state.summary = data.summary;
    state.status = data.status;
    updates++;
    render();
    void renderDrill();
  });
  source.addEventListener('history', (e) => { state.health = JSON.parse(e.data); renderHealth(); });
  source.addEventListener('health', (e) => {
    state.health.push(JSON.parse(e.data));
    if (state.health.length > 150) state.health.shift();
    renderHealth();
  });
})();
