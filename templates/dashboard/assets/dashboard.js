// goku dashboard: forms call /api/ with the session's CSRF token; an app's page follows its
// deploys, logs and stats as Server-Sent Events. Every value from the server is set as text,
// never as HTML.
(() => {
  'use strict';
  const csrf = document.querySelector('meta[name="csrf"]')?.content ?? '';
  const appEl = document.getElementById('app');
  const appApi = appEl ? appEl.dataset.api : null;
  let busy = 0;

  function flash(text, ok) {
    const el = document.getElementById('flash');
    if (!el) return;
    el.textContent = text;
    el.className = ok ? 'ok' : '';
    el.hidden = !text;
  }

  /** Reads a fetch response's event stream: calls onEvent(event, data) for each event. */
  async function readEvents(res, onEvent) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let at;
      while ((at = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length) onEvent(event, data.join('\n'));
      }
    }
  }

  /** One API call; progress lines go to the deploy panel. Resolves with the result, throws the error. */
  async function call(method, url, body, long) {
    const headers = { 'x-csrf-token': csrf, accept: long ? 'text/event-stream' : 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const type = res.headers.get('content-type') || '';
    if (!type.startsWith('text/event-stream')) {
      const json = await res.json().catch(() => ({ message: `HTTP ${res.status}` }));
      if (!res.ok) throw new Error(json.message || `HTTP ${res.status}`);
      return json;
    }
    let result = null;
    let failure = null;
    await readEvents(res, (event, data) => {
      if (event === 'progress') progress.line(data);
      else if (event === 'result') result = JSON.parse(data);
      else if (event === 'error') failure = JSON.parse(data);
    });
    if (failure) throw new Error(failure.message);
    return result;
  }

  /** The JSON body of a form: name → value; data-type number|bool|list; a.b nests; data-kv makes {kv: {key: value}}. */
  function bodyOf(form) {
    if (form.dataset.fixed) return JSON.parse(form.dataset.fixed);
    const body = {};
    if (form.dataset.kv) {
      body[form.dataset.kv] = { [form.elements.key.value.trim()]: form.elements.value.value };
      return body;
    }
    for (const el of form.elements) {
      if (!el.name || el.disabled) continue;
      let v = el.value;
      if (el.dataset.type === 'number') v = Number(v);
      else if (el.dataset.type === 'bool') v = el.checked;
      else if (el.dataset.type === 'list') v = v.split(/[\s,]+/).filter(Boolean);
      const path = el.name.split('.');
      let at = body;
      for (const k of path.slice(0, -1)) at = at[k] ??= {};
      at[path[path.length - 1]] = v;
    }
    return body;
  }

  document.addEventListener('submit', async (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || form.dataset.api === undefined) return;
    e.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const url = form.dataset.absolute !== undefined ? form.dataset.api : appApi + form.dataset.api;
    const long = form.dataset.long !== undefined;
    const method = form.dataset.method || 'POST';
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    busy++;
    flash('');
    if (long) progress.begin(`${method} ${url.replace(appApi || '', '') || 'app'}`);
    try {
      const body = method === 'GET' ? undefined : bodyOf(form);
      await call(method, url, body, long);
      if (long) progress.end(true);
      location.assign(form.dataset.then || location.pathname);
    } catch (err) {
      buttons.forEach((b) => { b.disabled = false; });
      if (long && err instanceof TypeError) {
        // The connection dropped (a phone changing networks): the change goes on at the server,
        // and this page follows it through the app's event stream, which reloads when it ends.
        flash('The connection dropped; the change goes on at the server. Following it…', true);
        setTimeout(() => location.reload(), 5000);
        return;
      }
      if (long) progress.end(false);
      flash(err.message);
    } finally {
      busy--;
    }
  });

  /** The deploy panel: progress lines of whatever deploys the app (this page, a push, a webhook). */
  const progress = (() => {
    const card = document.getElementById('progress-card');
    const pre = document.getElementById('progress');
    const status = document.getElementById('progress-status');
    return {
      begin(what) {
        if (!card) return;
        card.hidden = false;
        pre.textContent = '';
        status.textContent = what;
        status.className = 'state state-deploying';
      },
      line(text) {
        if (!pre) return;
        pre.append(`${text}\n`);
        pre.scrollTop = pre.scrollHeight;
      },
      end(ok) {
        if (!status) return;
        status.textContent = ok ? 'done' : 'failed';
        status.className = `state ${ok ? 'state-succeeded' : 'state-failed'}`;
      },
    };
  })();

  if (appApi) {
    // One stream for deploys, logs and stats: a browser opens at most six connections per
    // server, and three streams per tab would stall the third tab.
    const live = new EventSource(`${appApi}/live?lines=100`);
    const events = live;
    events.addEventListener('start', (e) => {
      const d = JSON.parse(e.data);
      if (!busy) progress.begin(`${d.kind} by ${d.by}`);
      const st = document.getElementById('state');
      if (st) { st.textContent = 'deploying'; st.className = 'state state-deploying'; }
    });
    events.addEventListener('progress', (e) => { if (!busy) progress.line(JSON.parse(e.data).line); });
    for (const kind of ['done', 'failed']) {
      events.addEventListener(kind, (e) => {
        if (busy) return;
        progress.end(kind === 'done');
        if (kind === 'failed') flash(JSON.parse(e.data).message);
        // The page shows the new release, instances and state.
        setTimeout(() => location.reload(), kind === 'done' ? 600 : 2500);
      });
    }

    // Live logs, with the instance prefix goku adds when several run; unticking follow pauses them.
    const logs = document.getElementById('logs');
    const follow = document.getElementById('logs-follow');
    // A reconnect sends the last lines again: start over rather than repeat them.
    live.addEventListener('open', () => { if (logs) logs.textContent = ''; });
    live.addEventListener('log', (e) => {
      if (!logs || !follow.checked) return;
      logs.append(`${e.data}\n`);
      while (logs.childNodes.length > 2000) logs.firstChild.remove();
      logs.scrollTop = logs.scrollHeight;
    });
    live.addEventListener('log-error', (e) => {
      if (logs) logs.append(`(${JSON.parse(e.data).message})\n`);
    });

    // Stats: CPU, memory and network of each instance; a line of the last minutes' CPU.
    const history = new Map();
    const fmtBytes = (n) => {
      if (n === null || n === undefined) return '…';
      const u = ['B', 'KB', 'MB', 'GB', 'TB'];
      let i = 0;
      while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
      return `${n.toFixed(n < 10 && i ? 1 : 0)} ${u[i]}`;
    };
    const cell = (row, cls, text) => {
      const td = document.createElement('td');
      if (cls) td.className = cls;
      td.textContent = text;
      row.append(td);
      return td;
    };
    /** One row per instance, rebuilt from each sample: instances come and go with deploys. */
    const renderRow = (s) => {
      const row = document.createElement('tr');
      row.dataset.instance = s.name;
      const code = document.createElement('code');
      code.textContent = s.name;
      cell(row, '', '').append(code);
      cell(row, '', s.process);
      cell(row, 'st', s.state);
      cell(row, '', s.release);
      cell(row, 'cpu', s.cpu === null ? (s.state === 'running' ? '…' : '-') : `${s.cpu.toFixed(1)} %`);
      cell(row, 'mem', s.memory === null ? '-' : `${fmtBytes(s.memory)}${s.memoryLimit ? ` / ${fmtBytes(s.memoryLimit)}` : ''}`);
      cell(row, 'net', s.rxRate === null ? (s.state === 'running' ? '…' : '-') : `${fmtBytes(s.rxRate)}/s · ${fmtBytes(s.txRate)}/s`);
      const h = history.get(s.name) ?? [];
      if (s.cpu !== null) h.push(s.cpu);
      while (h.length > 90) h.shift();
      history.set(s.name, h);
      const max = Math.max(5, ...h);
      const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      svg.setAttribute('viewBox', '0 0 120 30');
      svg.setAttribute('preserveAspectRatio', 'none');
      svg.setAttribute('aria-label', 'CPU');
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
      line.setAttribute('points', h.map((v, i) => `${(i * 120) / 89},${30 - (v / max) * 28}`).join(' '));
      svg.append(line);
      cell(row, 'chart', '').append(svg);
      return row;
    };
    const tbody = document.querySelector('#instances tbody');
    live.addEventListener('stats', (e) => {
      const { instances } = JSON.parse(e.data);
      const live = new Set(instances.map((s) => s.name));
      for (const k of history.keys()) if (!live.has(k)) history.delete(k);
      if (!instances.length) {
        const row = document.createElement('tr');
        cell(row, 'muted', 'No containers.').colSpan = 8;
        tbody.replaceChildren(row);
        return;
      }
      tbody.replaceChildren(...instances.map(renderRow));
    });

    // Config values stay masked until asked for, one at a time.
    document.addEventListener('click', async (e) => {
      const btn = e.target.closest('button.reveal');
      if (!btn) return;
      const cell = btn.closest('tr').querySelector('.value');
      if (!cell.classList.contains('masked')) {
        cell.textContent = '••••••';
        cell.classList.add('masked');
        btn.textContent = 'Reveal';
        return;
      }
      try {
        const r = await call('GET', `${appApi}/config/${encodeURIComponent(btn.dataset.key)}`);
        cell.textContent = r.output.replace(/\n$/, '');
        cell.classList.remove('masked');
        btn.textContent = 'Hide';
      } catch (err) {
        flash(err.message);
      }
    });
  }

  // Ages ("3 minutes ago") kept current.
  const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  const age = () => {
    for (const t of document.querySelectorAll('time[datetime]')) {
      const s = (new Date(t.dateTime).getTime() - Date.now()) / 1000;
      const [n, unit] = Math.abs(s) < 60 ? [s, 'second'] : Math.abs(s) < 3600 ? [s / 60, 'minute'] : Math.abs(s) < 86400 ? [s / 3600, 'hour'] : [s / 86400, 'day'];
      t.textContent = rtf.format(Math.round(n), unit);
      t.title = t.dateTime;
    }
  };
  age();
  setInterval(age, 30000);
})();
