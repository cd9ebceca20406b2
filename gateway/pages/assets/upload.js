// The upload page (/): drop, paste, pick or import images; each upload has
// its own progress bar and state; results carry copy fields. Recent uploads
// and the optional API key live in this browser's localStorage only: the key
// is sent as an Authorization header, never in a URL.
'use strict';
(() => {
  const main = document.getElementById('main');
  const $ = (id) => document.getElementById(id);
  const KEY = 'imgpipe.apiKey';
  const RECENT = 'imgpipe.recent';
  const store = {
    get(name, fallback) { try { const v = localStorage.getItem(name); return v === null ? fallback : JSON.parse(v); } catch { return fallback; } },
    set(name, value) { try { localStorage.setItem(name, JSON.stringify(value)); } catch { /* storage off: nothing kept */ } },
    remove(name) { try { localStorage.removeItem(name); } catch { /* ignore */ } },
  };
  const apiKey = () => store.get(KEY, '');
  const authHeaders = () => (apiKey() ? { Authorization: 'Bearer ' + apiKey() } : {});
  const maxBytes = () => Number(apiKey() ? main.dataset.maxKey : main.dataset.maxAnonymous);

  function humanBytes(n) {
    const units = ['bytes', 'KB', 'MB', 'GB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : Math.round(n * 10) / 10) + ' ' + units[i];
  }
  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'text') node.textContent = v;
      else if (k in node && k !== 'list') node[k] = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }
  const live = (text) => { $('live').textContent = text; };

  function showLimit() {
    $('limit-note').textContent = 'Up to ' + humanBytes(maxBytes()) + ' per image' + (apiKey() ? ' with your key.' : ' without a key.');
  }

  // The s/m/l widths for srcset: the variant policy of workers/image/sizes.cpp
  // (short edge 320/640/1080, never upscaled), mirrored for the snippet only.
  function variantWidth(w, h, shortEdge) {
    const shortSide = Math.min(w, h), longSide = Math.max(w, h);
    if (shortSide <= shortEdge) return w;
    const scaled = Math.floor((longSide * shortEdge * 2 + shortSide) / (shortSide * 2));
    return w <= h ? shortEdge : Math.max(1, scaled);
  }

  // What people copy from a result.
  function copyFields(r) {
    const size = (s) => r.src + '?size=' + s;
    const alt = (r.name || r.id).replace(/["<>&]/g, '');
    const srcset = [['s', 320], ['m', 640], ['l', 1080]]
      .map(([s, e]) => size(s) + ' ' + variantWidth(r.width, r.height, e) + 'w').join(', ');
    return [
      ['Page', r.url],
      ['Image', r.src],
      ['Small', size('s')],
      ['Medium', size('m')],
      ['Large', size('l')],
      ['Markdown', '[![' + alt + '](' + size('m') + ')](' + r.url + ')'],
      ['HTML', '<img src="' + size('m') + '" srcset="' + srcset + '" sizes="(max-width: 1080px) 100vw, 1080px" alt="' + alt + '">'],
      ['BBCode', '[url=' + r.url + '][img]' + size('m') + '[/img][/url]'],
    ];
  }
  let fieldCount = 0;
  function resultBlock(r) {
    const box = el('div', { className: 'result' });
    for (const [label, value] of copyFields(r)) {
      const id = 'f' + (++fieldCount);
      box.append(el('div', { className: 'copyrow' }, [
        el('label', { htmlFor: id, text: label }),
        el('input', { id, readOnly: true, value }),
        el('button', { type: 'button', text: 'Copy', 'aria-label': 'Copy ' + label, 'data-copy': id }),
      ]));
    }
    return box;
  }

  // One upload or import in the list: name, preview, progress, state.
  function newItem(name, previewUrl) {
    $('uploads-empty').hidden = true;
    const progress = el('progress', { max: 100, value: 0, 'aria-label': 'Upload progress of ' + name });
    const state = el('p', { className: 'state', text: 'Waiting' });
    const preview = el('img', { className: 'preview', alt: '' });
    if (previewUrl) preview.src = previewUrl;
    const body = el('div', {}, [el('p', { className: 'name', text: name }), progress, state]);
    const li = el('li', { className: 'item' }, [preview, body]);
    $('uploads').prepend(li);
    return {
      progress(fraction) { progress.value = Math.round(fraction * 100); },
      state(kind, text) {
        state.className = 'state ' + kind;
        state.textContent = text;
        live(name + ': ' + text);
      },
      done(r) {
        progress.value = 100;
        progress.hidden = true;
        if (preview.src.startsWith('blob:')) URL.revokeObjectURL(preview.src);
        preview.src = r.src + '?size=s';
        preview.alt = 'Preview of ' + (r.name || r.id);
        this.state('done', 'Done: ' + r.width + '×' + r.height);
        body.append(resultBlock(r));
        remember(r);
      },
      failed(text) { progress.hidden = true; this.state('failed', 'Failed: ' + text); },
    };
  }

  // An error answer (shape B or C) as "message. What to do."
  function errorText(status, text) {
    let body;
    try { body = JSON.parse(text); } catch { return 'the server answered ' + status + '.'; }
    const e = typeof body.error === 'object' && body.error !== null ? body.error : body;
    let out = e.message || e.error || ('the server answered ' + status);
    const action = e.action || {};
    if (action.label) out += ' ' + action.label + (action.url ? ': ' + action.url : '') + '.';
    else if (action.url) out += ' See ' + action.url;
    return out;
  }

  function upload(file) {
    const tooBig = file.size > maxBytes();
    // A local preview while sending; a file that is not sent gets none.
    const item = newItem(file.name || 'pasted image', tooBig ? '' : URL.createObjectURL(file));
    if (tooBig) {
      item.failed('the file is ' + humanBytes(file.size) + '; the limit is ' + humanBytes(maxBytes()) +
        (apiKey() ? '.' : ' without a key. Get a key for larger files: /keys.'));
      return;
    }
    const form = new FormData();
    form.append('file', file, file.name || 'pasted.png');
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/upload');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) item.progress(e.loaded / e.total); };
    xhr.upload.onload = () => { item.progress(1); item.state('processing', 'Processing…'); };
    xhr.onload = () => {
      if (xhr.status === 201 || xhr.status === 200) {
        try { return item.done(JSON.parse(xhr.responseText)); } catch { return item.failed('the answer was not JSON.'); }
      }
      item.failed(errorText(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => item.failed('the connection failed. Check your network and try again.');
    item.state('uploading', 'Uploading…');
    xhr.send(form);
  }

  async function importUrl(url) {
    const item = newItem(url, '');
    item.state('processing', 'Importing…');
    try {
      const res = await fetch('/v1/import', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...authHeaders() },
        body: JSON.stringify({ url }),
      });
      const text = await res.text();
      if (res.ok) item.done(JSON.parse(text));
      else item.failed(errorText(res.status, text));
    } catch {
      item.failed('the connection failed. Check your network and try again.');
    }
  }

  function addFiles(files) {
    const images = [...files];
    if (images.length) live('Uploading ' + images.length + (images.length === 1 ? ' file' : ' files'));
    images.forEach(upload);
  }

  // Recent uploads: this browser only.
  function remember(r) {
    const recent = store.get(RECENT, []).filter((x) => x.id !== r.id);
    recent.unshift({ id: r.id, name: r.name, url: r.url, src: r.src, width: r.width, height: r.height });
    store.set(RECENT, recent.slice(0, 50));
    showRecent();
  }
  function showRecent() {
    const list = $('recent');
    list.replaceChildren();
    for (const r of store.get(RECENT, [])) {
      list.append(el('li', {}, [el('a', { href: r.url }, [el('img', { src: r.src + '?size=s', alt: r.name || r.id, loading: 'lazy' })])]));
    }
    $('clear-recent').hidden = list.children.length === 0;
  }

  // The key's own images: list and delete.
  async function listMine() {
    $('mine-state').textContent = 'Loading…';
    const res = await fetch('/v1/images?limit=100', { headers: authHeaders() });
    const text = await res.text();
    if (!res.ok) { $('mine-state').textContent = 'Could not list: ' + errorText(res.status, text); return; }
    const images = JSON.parse(text).data || [];  // shape C list: newest first
    $('mine-state').textContent = images.length + (images.length === 1 ? ' image' : ' images');
    const list = $('image-list');
    list.replaceChildren();
    for (const r of images) {
      const name = r.filename || r.id;
      const del = el('button', { type: 'button', text: 'Delete', 'aria-label': 'Delete ' + name });
      // A processing or failed image has no URL yet: its status instead.
      const label = r.status === 'ready' ? name : name + ' (' + r.status + ')';
      const href = r.page_url || r.url;
      const li = el('li', { className: 'item' }, [
        r.url ? el('img', { className: 'preview', src: r.url + '?size=s', alt: name })
              : el('span', { className: 'preview', text: r.status }),
        el('div', {}, [el('p', { className: 'name' }, [href ? el('a', { href, text: label }) : el('span', { text: label })]), del]),
      ]);
      del.addEventListener('click', async () => {
        del.disabled = true;
        const d = await fetch('/v1/images/' + encodeURIComponent(r.id), { method: 'DELETE', headers: authHeaders() });
        if (d.ok) {
          // Keyboard users keep their place: focus goes to the next image's
          // Delete (or the previous one's), else to the list's status line.
          const near = li.nextElementSibling || li.previousElementSibling;
          li.remove();
          (near ? near.querySelector('button') : $('mine-state')).focus();
          store.set(RECENT, store.get(RECENT, []).filter((x) => x.id !== r.id));
          showRecent();
          $('mine-state').textContent = 'Deleted ' + name + '.';
        } else {
          del.disabled = false;
          $('mine-state').textContent = 'Could not delete: ' + errorText(d.status, await d.text());
        }
      });
      list.append(li);
    }
  }
  function showKey() {
    const has = !!apiKey();
    $('api-key').value = apiKey();
    $('key-state').textContent = has ? 'A key is saved in this browser: uploads use it.' : 'No key saved: uploads are anonymous.';
    $('mine').hidden = !has;
    if (!has) $('image-list').replaceChildren();
    showLimit();
  }

  // Wiring: pick, drop anywhere, paste anywhere, import, key, recent.
  $('pick').addEventListener('click', () => $('files').click());
  $('files').addEventListener('change', (e) => { addFiles(e.target.files); e.target.value = ''; });
  let depth = 0;
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  document.addEventListener('dragenter', (e) => { if (hasFiles(e)) { depth++; document.body.classList.add('dragging'); } });
  document.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; document.body.classList.remove('dragging'); } });
  document.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    document.body.classList.remove('dragging');
    addFiles(e.dataTransfer.files);
  });
  document.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])];
    if (files.length) { e.preventDefault(); addFiles(files); return; }
    // A pasted URL outside a text field is an import.
    const text = e.clipboardData ? e.clipboardData.getData('text/plain').trim() : '';
    const target = e.target;
    const inField = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA');
    if (!inField && /^https?:\/\/\S+$/.test(text)) { e.preventDefault(); importUrl(text); }
  });
  $('import-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = $('import-url').value.trim();
    if (url) { importUrl(url); $('import-url').value = ''; }
  });
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('api-key').value.trim();
    if (key) store.set(KEY, key); else store.remove(KEY);
    showKey();
  });
  $('forget-key').addEventListener('click', () => { store.remove(KEY); showKey(); });
  $('load-images').addEventListener('click', () => { listMine().catch(() => { $('mine-state').textContent = 'Could not list: the connection failed.'; }); });
  $('clear-recent').addEventListener('click', () => { store.remove(RECENT); showRecent(); live('Recent uploads cleared'); });
  showKey();
  showRecent();
})();
