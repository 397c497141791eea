// The regionkv dashboard: one page, one view at a time (chosen by the URL's
// hash), each redrawn from the scheduler's JSON API every few seconds.
'use strict';

const API = new URL('../api/v1/', location.href).href;
const REFRESH_MS = 5000;

// ---------------------------------------------------------------- API

class APIError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// exactIntegers keeps integers past 2^53 (the cluster ID is a uint64) as
// BigInt, from their source text, where the browser offers it.
function exactIntegers(key, value, context) {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source || '')) {
    return BigInt(context.source);
  }
  return value;
}

async function api(path) {
  let resp;
  try {
    resp = await fetch(API + path, { cache: 'no-store' });
  } catch (e) {
    throw new APIError(`cannot reach the scheduler at ${location.host}: ${e.message}`, 0, null);
  }
  let body = null;
  try {
    body = JSON.parse(await resp.text(), exactIntegers);
  } catch (e) {
    // An answer that is not JSON: reported below by its status.
  }
  if (!resp.ok) {
    let msg = (body && body.error) || `HTTP ${resp.status}`;
    if (resp.status === 503 && body && body.leader) {
      const l = body.leader;
      msg = `this scheduler member is not the leader; the leader is ${l.name} (${(l['client-urls'] || []).join(', ')})`;
    }
    throw new APIError(msg, resp.status, body);
  }
  return body;
}

// apiOrNull is api, with 404 answered as null.
async function apiOrNull(path) {
  try {
    return await api(path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

// ---------------------------------------------------------------- formatting

function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  n = Number(n) || 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
}

function fmtNum(n) {
  return Number(n || 0).toLocaleString('en-US');
}

function pad2(n) {
  return String(n).padStart(2, '0');
}

// fmtClock shows unix seconds as local HH:MM:SS.
function fmtClock(sec) {
  const d = new Date(sec * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function fmtHM(sec) {
  const d = new Date(sec * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

// ago shows an RFC 3339 time as "12 s ago".
function ago(iso) {
  const t = Date.parse(iso);
  if (!t || t < 86400000) return 'never';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

// ---------------------------------------------------------------- keys

// keyToHex reads a key typed by a person: 0x-prefixed hex, or text (its
// UTF-8 bytes). It throws an Error that says what is wrong.
function keyToHex(text) {
  const s = text.trim();
  if (s === '') throw new Error('type a key: text, or hex starting with 0x');
  if (/^0x/i.test(s)) {
    const hex = s.slice(2);
    if (hex === '' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
      throw new Error(`"${s}" is not a hex key: after 0x, give pairs of hex digits (0x6b31)`);
    }
    return hex.toLowerCase();
  }
  return Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, '0')).join('');
}

// showKey shows a hex key as text when it is printable ASCII, else as
// 0x-hex; the empty key is -inf as a start and +inf as an end.
function showKey(hex, isEnd) {
  if (!hex) return isEnd ? '+\u221e' : '-\u221e';
  const bytes = hex.match(/../g).map((b) => parseInt(b, 16));
  if (bytes.every((b) => b >= 0x20 && b < 0x7f) && !/^0x/i.test(String.fromCharCode(...bytes))) {
    return String.fromCharCode(...bytes);
  }
  return '0x' + hex;
}

function keyNode(hex, isEnd) {
  return h('span', { class: 'key', title: hex ? '0x' + hex : isEnd ? 'no end' : 'no start' }, showKey(hex, isEnd));
}

function rangeNode(start, end) {
  return h('span', {}, '[', keyNode(start, false), ', ', keyNode(end, true), ')');
}

// ---------------------------------------------------------------- DOM

// h builds an element: h('a', {href: '#/', class: 'x', on: {click: f}}, 'text', child).
function h(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'style') Object.assign(e.style, v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    e.append(kid instanceof Node ? kid : String(kid));
  }
  return e;
}

function replace(node, ...kids) {
  node.replaceChildren(...kids.flat().filter((k) => k !== undefined && k !== null && k !== false));
  return node;
}

function stateBadge(s) {
  return h('span', { class: 'state ' + s }, s);
}

function regionLink(id) {
  return h('a', { href: `#/region/${id}` }, String(id));
}

function card(label, value, sub, id) {
  return h('div', { class: 'card', id }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value),
    sub ? h('div', { class: 'sub' }, sub) : null);
}

function cmp(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

// Table is a table whose columns sort when their header is clicked; the
// sort survives the refreshes that replace its rows. A column is {key,
// label, get(row) (the sort value), show(row) (a node or text; default
// get), num (right-aligned)}.
class Table {
  constructor(id, cols, sortKey, desc) {
    this.cols = cols;
    this.sortKey = sortKey;
    this.desc = !!desc;
    this.rows = [];
    this.rowClass = () => '';
    this.node = h('div', { class: 'tablewrap', id });
  }

  set(rows, rowClass) {
    this.rows = rows;
    if (rowClass) this.rowClass = rowClass;
    this.render();
  }

  sortBy(key) {
    if (this.sortKey === key) this.desc = !this.desc;
    else {
      this.sortKey = key;
      this.desc = false;
    }
    this.render();
  }

  render() {
    const col = this.cols.find((c) => c.key === this.sortKey);
    const rows = [...this.rows];
    // Array.prototype.sort is stable: equal rows keep the server's order.
    if (col) rows.sort((a, b) => cmp(col.get(a), col.get(b)) * (this.desc ? -1 : 1));
    const head = h('tr', {}, this.cols.map((c) => h('th', {
      class: ['sortable', c.num ? 'num' : '', c.key === this.sortKey ? 'sorted' : '', c.key === this.sortKey && this.desc ? 'desc' : '']
        .filter(Boolean).join(' '),
      dataset: { key: c.key },
      on: { click: () => this.sortBy(c.key) },
    }, c.label)));
    const body = rows.map((r) => h('tr', { class: this.rowClass(r) || null },
      this.cols.map((c) => h('td', { class: c.num ? 'num' : null, dataset: { col: c.key } }, c.show ? c.show(r) : String(c.get(r))))));
    const table = h('table', { dataset: { sort: this.sortKey, order: this.desc ? 'desc' : 'asc' } },
      h('thead', {}, head), h('tbody', {}, body));
    replace(this.node, rows.length ? table : h('div', { class: 'empty' }, 'none'));
  }
}

// ---------------------------------------------------------------- views

const views = { overview, stores, regions, region, hot, keyviz };

function overview(root) {
  const cards = h('div', { class: 'cards' });
  const bars = h('div', { class: 'bars', id: 'store-bars' });
  const ops = new Table('operators', [
    { key: 'region', label: 'Region', get: (o) => o['region-id'], show: (o) => regionLink(o['region-id']), num: true },
    { key: 'desc', label: 'Operator', get: (o) => o.desc },
    { key: 'kind', label: 'Kind', get: (o) => o.kind },
    { key: 'status', label: 'Status', get: (o) => o.status, show: (o) => stateBadge(o.status) },
    { key: 'step', label: 'Step', get: (o) => o.step, show: (o) => `${Math.min(o.step + 1, o.steps.length)}/${o.steps.length}: ${o.steps[o.step] || 'done'}` },
    { key: 'created', label: 'Created', get: (o) => o.created, show: (o) => ago(o.created) },
  ], 'created', true);
  const scheds = new Table('schedulers', [
    { key: 'name', label: 'Scheduler', get: (s) => s.name },
    { key: 'state', label: 'State', get: (s) => (s.paused ? 'paused' : 'running'), show: (s) => stateBadge(s.paused ? 'paused' : 'running') },
    { key: 'last-run', label: 'Last run', get: (s) => s['last-run'] || '', show: (s) => (s['last-run'] ? ago(s['last-run']) : 'not yet') },
    { key: 'reason', label: 'Last result (why nothing was done)', get: (s) => s['last-reason'] || '', show: (s) => s['last-reason'] || 'created operators' },
    { key: 'ops', label: 'Operators created', get: (s) => s['operators-created'] || 0, num: true },
  ], 'name');
  const available = h('div', { class: 'muted' });
  root.append(
    h('h1', {}, 'Cluster overview'),
    cards,
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, 'Regions and leaders per store',
        h('span', { class: 'legend-dot regions' }), h('span', { class: 'muted' }, 'regions'),
        h('span', { class: 'legend-dot leaders' }), h('span', { class: 'muted' }, 'leaders')), bars),
      h('div', { class: 'panel' }, h('h2', {}, 'Balance schedulers'), scheds.node, available)),
    h('div', { class: 'panel' }, h('h2', {}, 'Operators in flight'), ops.node));

  return {
    async update() {
      const [cl, mem, st, op, sc] = await Promise.all([api('cluster'), api('members'), api('stores'), api('operators'), api('schedulers')]);
      const byState = Object.entries(cl.stores || {}).sort().map(([s, n]) => `${n} ${s}`).join(', ') || 'none yet';
      const leader = cl.leader || mem.leader;
      replace(cards,
        card('Cluster ID', String(cl['cluster-id']), null, 'card-cluster'),
        card('Scheduler leader', leader ? leader.name : 'none', leader ? (leader['client-urls'] || []).join(', ') : '', 'card-leader'),
        card('Scheduler members', String((mem.members || []).length), (mem.members || []).map((m) => m.name).join(', '), 'card-members'),
        card('Stores', String(st.count), byState, 'card-stores'),
        card('Regions', fmtNum(cl.regions), `${cl['max-replicas']} replicas each`, 'card-regions'),
        card('Operators in flight', String(op.length), null, 'card-operators'));

      const stores = [...st.stores].sort((a, b) => a.id - b.id);
      const top = Math.max(1, ...stores.map((s) => s['region-count']));
      replace(bars, stores.length ? stores.map((s) => h('div', { class: 'row', dataset: { store: s.id } },
        h('div', { class: 'name', title: s.address }, `store ${s.id} `, h('span', { class: 'muted' }, s.address), ' ', stateBadge(s.state)),
        h('div', {},
          h('div', { class: 'bar regions', title: `${s['region-count']} regions` },
            h('span', { style: { width: `${(100 * s['region-count']) / top}%` } }), h('em', {}, `${s['region-count']} regions`)),
          h('div', { class: 'bar leaders', title: `${s['leader-count']} leaders` },
            h('span', { style: { width: `${(100 * s['leader-count']) / top}%` } }), h('em', {}, `${s['leader-count']} leaders`)))))
        : h('div', { class: 'empty' }, 'no stores yet'));
      ops.set(op);
      scheds.set(sc.running || []);
      const idle = (sc.available || []).filter((n) => !(sc.running || []).some((r) => r.name === n));
      replace(available, idle.length ? `Not running: ${idle.join(', ')}` : '');
    },
  };
}

// findRegion returns the region holding the key typed in input, or
// throws an Error that says why not.
async function findRegion(text) {
  const hex = keyToHex(text);
  const r = await apiOrNull('regions/key/' + hex);
  if (!r) throw new Error(`no region holds key ${showKey(hex)}`);
  return { hex, region: r };
}

function stores(root, route) {
  const filter = h('input', { id: 'store-filter', type: 'search', placeholder: 'id, address or state' });
  const keyIn = h('input', { id: 'store-key', type: 'search', placeholder: 'text or 0x-hex', value: route.params.get('key') ? showKey(route.params.get('key')) : '' });
  const note = h('span', { class: 'muted', id: 'store-note' });
  let holders = null; // {hex, region}: the stores of the region holding a key
  const table = new Table('stores-table', [
    { key: 'id', label: 'ID', get: (s) => s.id, num: true },
    { key: 'address', label: 'Address', get: (s) => s.address },
    { key: 'state', label: 'State', get: (s) => s.state, show: (s) => stateBadge(s.state) },
    { key: 'leaders', label: 'Leaders', get: (s) => s['leader-count'], num: true },
    { key: 'regions', label: 'Regions', get: (s) => s['region-count'], num: true },
    { key: 'size', label: 'Region size', get: (s) => s['region-size-mib'], show: (s) => `${fmtNum(s['region-size-mib'])} MiB`, num: true },
    { key: 'weights', label: 'Weight (leader/region)', get: (s) => s['leader-weight'], show: (s) => `${s['leader-weight']} / ${s['region-weight']}`, num: true },
    { key: 'capacity', label: 'Capacity', get: (s) => s.capacity, show: (s) => fmtBytes(s.capacity), num: true },
    { key: 'available', label: 'Available', get: (s) => s.available, show: (s) => fmtBytes(s.available), num: true },
    { key: 'heartbeat', label: 'Last heartbeat', get: (s) => s['last-heartbeat'], show: (s) => ago(s['last-heartbeat']) },
    { key: 'holds', label: 'Holds key', get: (s) => holdRole(s), show: (s) => holdRole(s) || '' },
  ], 'id');
  function holdRole(s) {
    if (!holders) return '';
    const r = holders.region;
    if (r.leader && r.leader['store-id'] === s.id) return 'leader';
    return r.peers.some((p) => p['store-id'] === s.id) ? 'follower' : '';
  }
  let last = [];
  function draw() {
    const f = filter.value.trim().toLowerCase();
    const rows = last.filter((s) => (!f || `${s.id} ${s.address} ${s.state}`.toLowerCase().includes(f)) && (!holders || holdRole(s)));
    table.set(rows, (s) => (holdRole(s) === 'leader' ? 'hit' : ''));
    replace(note, holders ? h('span', {}, `stores of region `, regionLink(holders.region.id), ` which holds key ${showKey(holders.hex)}`) : `${last.length} stores`);
  }
  async function setKey() {
    holders = null;
    if (keyIn.value.trim() !== '') holders = await findRegion(keyIn.value);
    draw();
  }
  filter.addEventListener('input', draw);
  const keyForm = h('form', { on: { submit: (e) => { e.preventDefault(); setKey().then(() => setError(null), setError); } } },
    h('label', {}, 'Stores holding key '), keyIn, ' ', h('button', { type: 'submit' }, 'Show'),
    ' ', h('button', { type: 'button', on: { click: () => { keyIn.value = ''; setKey(); } } }, 'All'));
  root.append(h('h1', {}, 'Stores'), h('div', { class: 'toolbar' }, h('label', {}, 'Filter'), filter, keyForm, note), table.node);
  let first = true;
  return {
    async update() {
      last = (await api('stores')).stores;
      if (first && keyIn.value) {
        first = false;
        await setKey();
        return;
      }
      first = false;
      if (holders) holders.region = (await apiOrNull('regions/' + holders.region.id)) || holders.region;
      draw();
    },
  };
}

const regionCols = (ops) => [
  { key: 'id', label: 'ID', get: (r) => r.id, show: (r) => regionLink(r.id), num: true },
  { key: 'start', label: 'Start key', get: (r) => r['start-key'], show: (r) => keyNode(r['start-key'], false) },
  { key: 'end', label: 'End key', get: (r) => r['end-key'] || '\uffff', show: (r) => keyNode(r['end-key'], true) },
  { key: 'epoch', label: 'Epoch (conf/ver)', get: (r) => r.version * 1e6 + r['conf-ver'], show: (r) => `${r['conf-ver']} / ${r.version}` },
  { key: 'leader', label: 'Leader store', get: (r) => (r.leader ? r.leader['store-id'] : 0), show: (r) => (r.leader ? String(r.leader['store-id']) : 'none'), num: true },
  { key: 'peers', label: 'Peers (stores)', get: (r) => r.peers.length, show: (r) => r.peers.map((p) => p['store-id']).join(', ') },
  { key: 'size', label: 'Size', get: (r) => r['approximate-size'], show: (r) => fmtBytes(r['approximate-size']), num: true },
  { key: 'keys', label: 'Keys', get: (r) => r['approximate-keys'], show: (r) => fmtNum(r['approximate-keys']), num: true },
  { key: 'wbytes', label: 'Written', get: (r) => r['written-bytes'], show: (r) => fmtBytes(r['written-bytes']), num: true },
  { key: 'rbytes', label: 'Read', get: (r) => r['read-bytes'], show: (r) => fmtBytes(r['read-bytes']), num: true },
  { key: 'wkeys', label: 'Keys written', get: (r) => r['written-keys'], show: (r) => fmtNum(r['written-keys']), num: true },
  { key: 'rkeys', label: 'Keys read', get: (r) => r['read-keys'], show: (r) => fmtNum(r['read-keys']), num: true },
  { key: 'op', label: 'Operator', get: (r) => (ops.get(r.id) ? ops.get(r.id).desc : ''), show: (r) => (ops.get(r.id) ? `${ops.get(r.id).desc} (${ops.get(r.id).status})` : '') },
];

function regions(root, route) {
  const keyHex = route.params.get('key') || '';
  const limit = Number(route.params.get('limit')) || 1000;
  const keyIn = h('input', { id: 'region-key', type: 'search', placeholder: 'text or 0x-hex', value: keyHex ? showKey(keyHex) : '' });
  const limitSel = h('select', { id: 'region-limit' }, [100, 1000, 5000].map((n) => h('option', { value: n, selected: n === limit }, `${n} regions`)));
  const note = h('span', { class: 'muted', id: 'region-note' });
  const ops = new Map();
  const table = new Table('regions-table', regionCols(ops), 'start');
  const go = () => {
    let hex = '';
    try {
      if (keyIn.value.trim() !== '') hex = keyToHex(keyIn.value);
    } catch (e) {
      setError(e);
      return;
    }
    location.hash = `#/regions?key=${hex}&limit=${limitSel.value}`;
  };
  limitSel.addEventListener('change', go);
  root.append(h('h1', {}, 'Regions'),
    h('form', { class: 'toolbar', on: { submit: (e) => { e.preventDefault(); go(); } } },
      h('label', {}, 'From the region holding key'), keyIn, h('button', { type: 'submit' }, 'Go'), limitSel, note),
    table.node);
  return {
    async update() {
      let start = '';
      let hit = null;
      if (keyHex) {
        hit = await apiOrNull('regions/key/' + keyHex);
        if (!hit) throw new Error(`no region holds key ${showKey(keyHex)}`);
        start = hit['start-key'];
      }
      const [list, op] = await Promise.all([api(`regions?start=${start}&limit=${limit}`), api('operators')]);
      ops.clear();
      for (const o of op) ops.set(o['region-id'], o);
      table.set(list.regions, (r) => (hit && r.id === hit.id ? 'hit' : ''));
      replace(note, `showing ${list.count} of ${fmtNum(list.total)} regions` + (keyHex ? `, from the one holding ${showKey(keyHex)}` : '') +
        (list.count < list.total ? ' (search by key to see others)' : ''));
    },
  };
}

function region(root, route) {
  const id = route.arg;
  const body = h('div', { id: 'region-detail' });
  root.append(h('h1', {}, `Region ${id}`), body);
  const keyHex = route.params.get('key');
  return {
    async update() {
      const [r, st, op] = await Promise.all([apiOrNull('regions/' + encodeURIComponent(id)), api('stores'), apiOrNull('operators/' + encodeURIComponent(id))]);
      if (!r) {
        replace(body, h('p', { class: 'empty' }, `Region ${id} is not in the cluster (it may have merged away). `, h('a', { href: '#/regions' }, 'All regions')));
        return;
      }
      const addr = new Map(st.stores.map((s) => [s.id, s.address]));
      const down = new Set((r['down-peers'] || []).map((p) => p.id));
      const pending = new Set((r['pending-peers'] || []).map((p) => p.id));
      const leaderID = r.leader ? r.leader.id : 0;
      const peerState = (p) => (p.id === leaderID ? 'leader' : down.has(p.id) ? 'down' : pending.has(p.id) ? 'pending' : 'follower');
      const kvLink = `#/keyviz?start-key=${r['start-key']}` + (r['end-key'] ? `&end-key=${r['end-key']}` : '');
      const peers = new Table('peers-table', [
        { key: 'id', label: 'Peer', get: (p) => p.id, num: true },
        { key: 'store', label: 'Store', get: (p) => p['store-id'], num: true },
        { key: 'address', label: 'Address', get: (p) => addr.get(p['store-id']) || 'unknown' },
        { key: 'role', label: 'Role', get: (p) => p.role },
        { key: 'state', label: 'State', get: peerState, show: (p) => stateBadge(peerState(p)) },
      ], 'store');
      peers.set(r.peers);
      let opNode = h('span', { class: 'muted' }, 'none');
      if (op) {
        opNode = h('div', {}, h('div', {}, `${op.desc} `, stateBadge(op.status), h('span', { class: 'muted' }, ` ${op.kind}, created ${ago(op.created)}`)),
          h('ol', { class: 'steps' }, op.steps.map((s, i) => h('li', { class: i < op.step ? 'done' : i === op.step ? 'current' : null }, s))));
      }
      replace(body,
        h('div', { class: 'panel' }, h('dl', { class: 'props' },
          h('dt', {}, 'Key range'), h('dd', { id: 'region-range' }, rangeNode(r['start-key'], r['end-key']),
            h('div', { class: 'muted key' }, `hex: [${r['start-key'] || '-inf'}, ${r['end-key'] || '+inf'})`)),
          keyHex ? [h('dt', {}, 'Holds key'), h('dd', {}, keyNode(keyHex))] : null,
          h('dt', {}, 'Epoch'), h('dd', {}, `conf_ver ${r['conf-ver']}, version ${r.version}`),
          h('dt', {}, 'Leader'), h('dd', { id: 'region-leader' }, r.leader ? `peer ${r.leader.id} on store ${r.leader['store-id']} (${addr.get(r.leader['store-id']) || 'unknown'})` : 'none known'),
          h('dt', {}, 'Approximate size'), h('dd', {}, `${fmtBytes(r['approximate-size'])}, ${fmtNum(r['approximate-keys'])} keys`),
          h('dt', {}, 'Written (last heartbeat)'), h('dd', { id: 'region-written' }, `${fmtBytes(r['written-bytes'])}, ${fmtNum(r['written-keys'])} keys`),
          h('dt', {}, 'Read (last heartbeat)'), h('dd', { id: 'region-read' }, `${fmtBytes(r['read-bytes'])}, ${fmtNum(r['read-keys'])} keys`),
          h('dt', {}, 'Operator'), h('dd', { id: 'region-operator' }, opNode),
          h('dt', {}, 'Load'), h('dd', {}, h('a', { href: kvLink }, 'this range in the Key Visualizer')))),
        h('div', { class: 'panel' }, h('h2', {}, 'Peers'), peers.node));
    },
  };
}

// ---------------------------------------------------------------- key visualizer

const RAMP = [[0x1a, 0x10, 0x40], [0x5b, 0x1a, 0x8a], [0xc0, 0x30, 0x5a], [0xf0, 0x7a, 0x2a], [0xff, 0xef, 0x9a]];
const EMPTY = '#0b0b1a';

// heat maps t in [0, 1] to a colour whose brightness grows with t.
function heat(t) {
  t = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t));
  const f = t - i;
  const c = RAMP[i].map((a, k) => Math.round(a + (RAMP[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const METRICS = { 'written-bytes': 'written', 'read-bytes': 'read', 'written-keys': 'keys written', 'read-keys': 'keys read' };

function fmtMetric(metric, v) {
  return metric.endsWith('bytes') ? `${fmtBytes(v)} ${METRICS[metric]}` : `${fmtNum(v)} ${METRICS[metric]}`;
}

function keyviz(root, route) {
  const p = route.params;
  const metric = METRICS[p.get('metric')] ? p.get('metric') : 'written-bytes';
  const last = Number(p.get('last')) || 3600;
  const zoomed = p.has('from') || p.has('start-key') || p.has('end-key');
  const link = (changes) => {
    const q = new URLSearchParams(p);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') q.delete(k);
      else q.set(k, v);
    }
    return '#/keyviz?' + q.toString();
  };

  const metricSel = h('select', { id: 'kv-metric', on: { change: () => { location.hash = link({ metric: metricSel.value }); } } },
    Object.keys(METRICS).map((m) => h('option', { value: m, selected: m === metric }, m)));
  const lastSel = h('select', { id: 'kv-last', on: { change: () => { location.hash = link({ last: lastSel.value, from: null, to: null }); } } },
    [[900, 'last 15 min'], [3600, 'last hour'], [21600, 'last 6 hours']].map(([s, l]) => h('option', { value: s, selected: s === last }, l)));
  const reset = h('button', { id: 'kv-reset', type: 'button', disabled: !zoomed, on: { click: () => { location.hash = link({ from: null, to: null, 'start-key': null, 'end-key': null }); } } }, 'Reset zoom');
  const legendMax = h('span', { id: 'kv-max' });
  const canvas = h('canvas', { id: 'kv-canvas' });
  const sel = h('div', { id: 'kv-select', hidden: true });
  const tip = h('div', { id: 'kv-tip', hidden: true });
  const yaxis = h('div', { class: 'kv-yaxis' });
  const xaxis = h('div', { class: 'kv-xaxis' });
  const note = h('div', { class: 'kv-note', id: 'kv-note' });
  const plot = h('div', { class: 'kv-plot' }, canvas, sel, tip);
  root.append(h('h1', {}, 'Key Visualizer'),
    h('div', { class: 'toolbar' }, h('label', {}, 'Metric'), metricSel, h('label', {}, 'Time'), lastSel, reset,
      h('div', { class: 'kv-legend' }, '0', h('div', { class: 'ramp' }), legendMax, '(log scale)')),
    h('div', { class: 'kv-wrap' }, yaxis, plot, h('div', {}), xaxis),
    note);

  let data = null;
  let mouse = null; // last pointer position over the canvas
  let drag = null; // {x, y} where a selection started

  // cell maps a canvas position to its column and row.
  const cell = (x, y) => {
    const C = data.times.length;
    const R = data.keys.length - 1;
    return {
      c: Math.min(C - 1, Math.max(0, Math.floor((x * C) / canvas.width))),
      r: Math.min(R - 1, Math.max(0, Math.floor((y * R) / canvas.height))),
    };
  };

  function draw() {
    canvas.width = canvas.clientWidth;
    canvas.height = canvas.clientHeight;
    const W = canvas.width;
    const H = canvas.height;
    const g = canvas.getContext('2d');
    g.fillStyle = EMPTY;
    g.fillRect(0, 0, W, H);
    const C = data.times.length;
    const R = data.keys.length - 1;
    const lmax = Math.log1p(data.max);
    // Cell (c, r) paints the pixels that cell() maps back to it: from
    // ceil(c * W / C) up to, not including, ceil((c + 1) * W / C).
    for (let c = 0; c < C; c++) {
      const x0 = Math.ceil((c * W) / C);
      const x1 = Math.ceil(((c + 1) * W) / C);
      for (let r = 0; r < R; r++) {
        const v = data.values[c][r];
        if (!v) continue;
        const y0 = Math.ceil((r * H) / R);
        const y1 = Math.ceil(((r + 1) * H) / R);
        g.fillStyle = heat(Math.log1p(v) / lmax);
        g.fillRect(x0, y0, x1 - x0, y1 - y0);
      }
    }
    const ylabels = [];
    const ystep = Math.max(1, Math.ceil(R / 14));
    for (let r = 0; r <= R; r += ystep) ylabels.push(r);
    if (ylabels[ylabels.length - 1] !== R && R - ylabels[ylabels.length - 1] > ystep / 2) ylabels.push(R);
    replace(yaxis, ylabels.map((r) => h('span', { style: { top: `${(r * H) / R}px` }, title: data.keys[r] ? '0x' + data.keys[r] : '' }, showKey(data.keys[r], r === R))));
    const xstep = Math.max(1, Math.ceil(C / 8));
    const xlabels = [];
    for (let c = 0; c < C; c += xstep) xlabels.push(h('span', { style: { left: `${(c * W) / C}px` } }, fmtHM(data.times[c])));
    replace(xaxis, xlabels);
    legendMax.textContent = fmtMetric(data.metric, data.max);
    canvas.dataset.columns = C;
    canvas.dataset.rows = R;
    canvas.dataset.max = data.max;
  }

  function showTip() {
    if (!mouse || !data || drag) {
      tip.hidden = true;
      return;
    }
    const { c, r } = cell(mouse.x, mouse.y);
    const v = data.values[c][r];
    const t0 = data.times[c];
    const t1 = t0 + data['column-seconds'];
    replace(tip,
      h('div', {}, 'keys ', h('span', { class: 'key' }, `[${showKey(data.keys[r], false)}, ${showKey(data.keys[r + 1], true)})`)),
      h('div', {}, h('b', {}, fmtMetric(data.metric, v))),
      h('div', {}, `${fmtClock(t0)} \u2013 ${fmtClock(t1)}`, c === data['open-column'] ? ' (still filling)' : ''));
    Object.assign(tip.dataset, { startKey: data.keys[r], endKey: data.keys[r + 1], value: v, time: t0, column: c, row: r });
    tip.hidden = false;
    const left = mouse.x + 16 + tip.offsetWidth > canvas.width ? mouse.x - 16 - tip.offsetWidth : mouse.x + 16;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.min(mouse.y + 16, canvas.height - tip.offsetHeight)}px`;
  }

  const pos = (e) => {
    const b = canvas.getBoundingClientRect();
    return { x: e.clientX - b.left, y: e.clientY - b.top };
  };
  canvas.addEventListener('mousemove', (e) => {
    mouse = pos(e);
    if (drag) {
      Object.assign(sel.style, {
        left: `${Math.min(drag.x, mouse.x)}px`, top: `${Math.min(drag.y, mouse.y)}px`,
        width: `${Math.abs(mouse.x - drag.x)}px`, height: `${Math.abs(mouse.y - drag.y)}px`,
      });
      sel.hidden = false;
    }
    showTip();
  });
  canvas.addEventListener('mouseleave', () => {
    mouse = null;
    drag = null;
    sel.hidden = true;
    showTip();
  });
  canvas.addEventListener('mousedown', (e) => {
    if (data) drag = pos(e);
  });
  // A drag selects a zoom: across, a time window; down, a key range; both
  // when the box has both extents.
  canvas.addEventListener('mouseup', (e) => {
    const from = drag;
    drag = null;
    sel.hidden = true;
    if (!from || !data) return;
    const to = pos(e);
    const wide = Math.abs(to.x - from.x) > 5;
    const tall = Math.abs(to.y - from.y) > 5;
    if (!wide && !tall) return;
    const a = cell(Math.min(from.x, to.x), Math.min(from.y, to.y));
    const b = cell(Math.max(from.x, to.x), Math.max(from.y, to.y));
    const changes = {};
    if (wide) {
      changes.from = data.times[a.c];
      changes.to = data.times[b.c] + data['column-seconds'];
    }
    if (tall) {
      changes['start-key'] = data.keys[a.r];
      changes['end-key'] = data.keys[b.r + 1];
    }
    location.hash = link(changes);
  });

  return {
    async update() {
      const rows = Math.max(16, Math.min(256, Math.floor(canvas.clientHeight / 2)));
      const q = new URLSearchParams({ metric, rows });
      if (p.has('from')) {
        q.set('from', p.get('from'));
        if (p.has('to')) q.set('to', p.get('to'));
      } else {
        q.set('last', last);
      }
      for (const k of ['start-key', 'end-key']) if (p.get(k)) q.set(k, p.get(k));
      data = await api('keyviz?' + q.toString());
      draw();
      showTip();
      const url = API + 'keyviz?' + q.toString();
      replace(note, `One column per ${data['column-seconds']} s; each cell is the traffic of the regions overlapping its key range. ` +
        'Drag to zoom on a time window or key range. Data for scripts: ', h('a', { href: url }, url),
        data['retained-from'] ? ` (history since ${fmtClock(data['retained-from'])})` : ' (no data yet: regions report their traffic in heartbeats)');
    },
  };
}

// hot shows the load statistics: the hot read and write regions and each
// store's load, per second, averaged over the scheduler's hot-region-window.
function hot(root) {
  const rate = (v) => `${fmtNum(Math.round(v))}/s`;
  const byteRate = (v) => `${fmtBytes(Math.round(v))}/s`;
  const regionTable = (id) => new Table(id, [
    { key: 'id', label: 'Region', get: (r) => r['region-id'], show: (r) => regionLink(r['region-id']), num: true },
    { key: 'range', label: 'Key range', get: (r) => r['start-key'], show: (r) => rangeNode(r['start-key'], r['end-key']) },
    { key: 'leader', label: 'Leader store', get: (r) => r['leader-store'], num: true },
    { key: 'stores', label: 'Stores', get: (r) => r.stores.join(', ') },
    { key: 'bytes', label: 'Bytes', get: (r) => r.bytes, show: (r) => byteRate(r.bytes), num: true },
    { key: 'keys', label: 'Keys', get: (r) => r.keys, show: (r) => rate(r.keys), num: true },
    { key: 'queries', label: 'Requests', get: (r) => r.queries, show: (r) => rate(r.queries), num: true },
    { key: 'degree', label: 'Hot degree', get: (r) => r['hot-degree'], num: true },
  ], 'bytes', true);
  const reads = regionTable('hot-read');
  const writes = regionTable('hot-write');
  const storeTable = new Table('hot-stores', [
    { key: 'id', label: 'Store', get: (s) => s['store-id'], num: true },
    { key: 'rb', label: 'Read as leader', get: (s) => s['read-leader'].bytes, show: (s) => byteRate(s['read-leader'].bytes), num: true },
    { key: 'rq', label: 'Read requests', get: (s) => s['read-leader'].queries, show: (s) => rate(s['read-leader'].queries), num: true },
    { key: 'wb', label: 'Written as leader', get: (s) => s['write-leader'].bytes, show: (s) => byteRate(s['write-leader'].bytes), num: true },
    { key: 'wq', label: 'Write requests', get: (s) => s['write-leader'].queries, show: (s) => rate(s['write-leader'].queries), num: true },
    { key: 'wp', label: 'Written as replica', get: (s) => s['write-peer'].bytes, show: (s) => byteRate(s['write-peer'].bytes), num: true },
    { key: 'hot', label: 'Hot leaders (read/write)', get: (s) => s['hot-read-leaders'] + s['hot-write-leaders'], show: (s) => `${s['hot-read-leaders']} / ${s['hot-write-leaders']}`, num: true },
  ], 'id');
  root.append(h('h1', {}, 'Hot regions and store loads'),
    h('p', { class: 'muted' }, 'Per second, averaged over the scheduler\'s hot-region-window; balance-hot-region moves hot leaders and replicas off the busiest stores.'),
    h('div', { class: 'panel' }, h('h2', {}, 'Store loads'), storeTable.node),
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, 'Hot read regions'), reads.node),
      h('div', { class: 'panel' }, h('h2', {}, 'Hot write regions'), writes.node)));
  return {
    async update() {
      const [r, w, st] = await Promise.all([api('hotspot/regions/read?limit=50'), api('hotspot/regions/write?limit=50'), api('hotspot/stores')]);
      reads.set(r.regions);
      writes.set(w.regions);
      storeTable.set(st.stores);
    },
  };
}

// ---------------------------------------------------------------- shell

function setError(e) {
  const box = document.getElementById('error');
  box.hidden = !e;
  box.textContent = e ? e.message || String(e) : '';
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const parts = path.split('/').filter(Boolean);
  return { name: parts[0] || 'overview', arg: parts[1] ? decodeURIComponent(parts[1]) : '', params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

let active = null; // the view shown: {update}
let generation = 0; // counts views shown, so a stale update is ignored
let busy = false;

async function refresh() {
  if (!active || busy) return;
  busy = true;
  const gen = generation;
  const status = document.getElementById('status');
  try {
    await active.update();
    if (gen !== generation) return;
    setError(null);
    status.textContent = `live \u00b7 updated ${fmtClock(Date.now() / 1000)}`;
    status.className = '';
    status.dataset.updates = Number(status.dataset.updates) + 1;
  } catch (e) {
    if (gen !== generation) return;
    setError(e);
    status.textContent = 'not updated';
    status.className = 'stale';
  } finally {
    busy = false;
  }
}

function show() {
  const route = parseHash();
  const make = views[route.name];
  const root = document.getElementById('view');
  replace(root);
  generation++;
  busy = false;
  const nav = route.name === 'region' ? 'regions' : route.name;
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.view === nav);
  document.getElementById('status').dataset.updates = 0;
  if (!make) {
    active = null;
    root.append(h('p', { class: 'empty' }, `There is no page "${route.name}". `, h('a', { href: '#/' }, 'Overview')));
    return;
  }
  active = make(root, route);
  refresh();
}

document.getElementById('search').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = document.getElementById('search-key');
  try {
    const { hex, region: r } = await findRegion(input.value);
    setError(null);
    location.hash = `#/region/${r.id}?key=${hex}`;
  } catch (err) {
    setError(err);
  }
});
window.addEventListener('hashchange', show);
setInterval(refresh, REFRESH_MS);
show();
