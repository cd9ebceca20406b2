// The web pages in a real browser (issue 13): Debian's chromium driven by
// playwright-core against the real imgpipe binary on loopback, with photos
// from tests/corpus (ops/corpus). Run by ctest (label e2e); see README.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const bin = process.env.IMGPIPE_BIN || path.join(root, 'build/imgpipe');
const corpus = process.env.IMGPIPE_TEST_CORPUS || path.join(root, 'tests/corpus');
const shots = process.env.IMGPIPE_SCREENSHOTS || path.join(root, 'build/screenshots');
const photo = (name) => path.join(corpus, name);

let server, base, dataDir, fixture, fixtureBase, browser, serverLog = '';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// Polls a condition (no fixed sleeps): resolves when it holds, fails after `ms`.
async function until(what, check, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    try { if (await check()) return; } catch { /* not yet */ }
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  for (const f of ['landscape.jpg', 'portrait.jpg', 'medium.jpg', 'drawing.svg', 'big.jpg'])
    assert.ok(fs.existsSync(photo(f)), `${photo(f)} is missing: run ops/corpus or set IMGPIPE_TEST_CORPUS`);
  assert.ok(fs.existsSync(bin), `${bin} is missing: ops/build dev imgpipe, or set IMGPIPE_BIN`);
  fs.mkdirSync(shots, { recursive: true });
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgpipe-browser-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // --import-allow-private: the import test's origin is this test's loopback fixture server.
  server = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--public-url', base,
    '--import-allow-private'], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (d) => { serverLog += d; });
  server.stderr.on('data', (d) => { serverLog += d; });
  await until('imgpipe /readyz', async () => (await fetch(base + '/readyz')).status === 200);

  // The origin an import fetches from: one real photo on loopback.
  fixture = http.createServer((req, res) => {
    if (req.url !== '/photo.jpg') { res.writeHead(404); return res.end(); }
    res.writeHead(200, { 'Content-Type': 'image/jpeg' });
    res.end(fs.readFileSync(photo('medium.jpg')));
  });
  await new Promise((r) => fixture.listen(0, '127.0.0.1', r));
  fixtureBase = `http://127.0.0.1:${fixture.address().port}`;

  browser = await chromium.launch({ executablePath: process.env.IMGPIPE_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'] });
});

after(async () => {
  if (browser) await browser.close();
  if (fixture) fixture.close();
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r() : server.on('exit', r)));
  }
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

// A page with clipboard access whose every request stays on this server (or
// blob:/data:), with no CSP violation or script error.
async function openPage(t, urlPath, options = {}) {
  const context = await browser.newContext({ baseURL: base, acceptDownloads: true, ...options });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  page.on('request', (r) => {
    const u = r.url();
    requests.push(r.method() + ' ' + u);
    if (!u.startsWith(base + '/') && !u.startsWith('blob:') && !u.startsWith('data:')) problems.push('third-party request ' + u);
  });
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  t.after(async () => { await context.close(); });
  const response = await page.goto(urlPath);
  return { page, context, response, problems, requests };
}

function assertPageHeaders(response) {
  const h = response.headers();
  const csp = h['content-security-policy'] || '';
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /style-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(h['x-frame-options'], 'DENY');
}

async function assertAccessible(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(' ')})`), [], `axe on ${name}`);
}

const shot = (page, name) => page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });

// Records what the live region announces, to check progress states.
async function recordAnnouncements(page) {
  await page.evaluate(() => {
    window.announced = [];
    const live = document.getElementById('live');
    // Every text the region gets, also several set within one task.
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) window.announced.push(n.textContent);
    }).observe(live, { childList: true });
  });
}

// Drops real files onto the page as a user's drag would: a DataTransfer
// with the files, dragenter/dragover/drop on the body.
async function dropFiles(page, files) {
  const payload = files.map((f) => ({ name: path.basename(f), type: f.endsWith('.svg') ? 'image/svg+xml' : 'image/jpeg',
    data: fs.readFileSync(f).toString('base64') }));
  await page.evaluate((items) => {
    const dt = new DataTransfer();
    for (const it of items) {
      const bytes = Uint8Array.from(atob(it.data), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], it.name, { type: it.type }));
    }
    for (const type of ['dragenter', 'dragover', 'drop'])
      document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, payload);
}

const item = (page, name) => page.locator('#uploads li.item', { hasText: name });
async function waitDone(page, name) {
  const state = item(page, name).locator('.state');
  await state.filter({ hasText: /Done|Failed/ }).waitFor({ timeout: 60000 });
  assert.match(await state.textContent(), /^Done: \d+×\d+$/, `${name}: ${await state.textContent()}`);
}

async function copyField(page, scope, label) {
  const input = scope.locator('.copyrow', { has: page.locator('label', { hasText: new RegExp('^' + label + '$') }) }).locator('input, textarea');
  const value = await input.inputValue();
  await scope.getByRole('button', { name: 'Copy ' + label, exact: true }).click();
  await until('clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === value, 5000);
  return value;
}

test('upload page: two dropped photos upload with progress and give copyable results', async (t) => {
  const { page, response, problems } = await openPage(t, '/');
  assertPageHeaders(response);
  await assertAccessible(page, '/');
  await shot(page, 'upload-empty');
  await recordAnnouncements(page);
  await dropFiles(page, [photo('landscape.jpg'), photo('portrait.jpg')]);
  await waitDone(page, 'landscape.jpg');
  await waitDone(page, 'portrait.jpg');
  const announced = await page.evaluate(() => window.announced);
  for (const name of ['landscape.jpg', 'portrait.jpg']) {
    assert.ok(announced.includes(name + ': Uploading…'), announced.join(' | '));
    assert.ok(announced.includes(name + ': Processing…'), announced.join(' | '));
    assert.equal(await item(page, name).locator('progress').evaluate((p) => p.value), 100);
  }
  const result = item(page, 'landscape.jpg');
  // The preview shows the real small variant.
  await until('preview', () => result.locator('img.preview').evaluate((i) => i.complete && i.naturalWidth > 0));
  const imageUrl = await copyField(page, result, 'Image');
  const got = await fetch(imageUrl);
  assert.equal(got.status, 200);
  assert.match(got.headers.get('content-type'), /^image\/jpeg/);
  const pageUrl = await copyField(page, result, 'Page');
  assert.match(pageUrl, new RegExp('^' + base + '/\\w+$'));
  assert.equal(await copyField(page, result, 'Small'), imageUrl + '?size=s');
  assert.match(await copyField(page, result, 'Markdown'), /^\[!\[landscape\.jpg\]\(.+\?size=m\)\]\(.+\)$/);
  assert.match(await copyField(page, result, 'HTML'), /^<img src=".+\?size=m" srcset=".+\?size=s \d+w, .+\?size=m \d+w, .+\?size=l \d+w"/);
  assert.match(await copyField(page, result, 'BBCode'), /^\[url=.+\]\[img\].+\[\/img\]\[\/url\]$/);
  // Recent uploads survive a reload, and can be cleared.
  await page.reload();
  assert.equal(await page.locator('#recent li').count(), 2);
  await shot(page, 'upload-recent');
  await page.getByRole('button', { name: 'Clear recent uploads' }).click();
  assert.equal(await page.locator('#recent li').count(), 0);
  assert.deepEqual(problems, []);
});

test('upload page: paste, URL import, a refused SVG and a file over the limit', async (t) => {
  const { page, problems, requests } = await openPage(t, '/');
  // Paste an image from the clipboard.
  const bytes = fs.readFileSync(photo('medium.jpg')).toString('base64');
  await page.evaluate((data) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], 'pasted.jpg', { type: 'image/jpeg' }));
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, bytes);
  await waitDone(page, 'pasted.jpg');
  // Import from a URL (the loopback fixture).
  await page.getByLabel('Import from a URL').fill(fixtureBase + '/photo.jpg');
  await page.getByRole('button', { name: 'Import' }).click();
  await waitDone(page, fixtureBase + '/photo.jpg');
  // An SVG is refused by the server: its message shows.
  await page.locator('#files').setInputFiles(photo('drawing.svg'));
  const svg = item(page, 'drawing.svg').locator('.state');
  await svg.filter({ hasText: 'Failed' }).waitFor();
  assert.match(await svg.textContent(), /^Failed: .{10,}/);
  const direct = await (await fetch(base + '/v1/upload', { method: 'POST', body: (() => {
    const f = new FormData(); f.append('file', new Blob([fs.readFileSync(photo('drawing.svg'))], { type: 'image/svg+xml' }), 'drawing.svg'); return f;
  })() })).json();
  assert.ok((await svg.textContent()).includes(direct.message), `${await svg.textContent()} vs ${direct.message}`);
  assert.equal(await svg.getAttribute('class'), 'state failed');
  // Over the anonymous limit: refused before sending, with the limit named.
  const uploadsBefore = requests.filter((r) => r.startsWith('POST ')).length;
  await page.locator('#files').setInputFiles(photo('big.jpg'));
  const big = item(page, 'big.jpg').locator('.state');
  await big.filter({ hasText: 'Failed' }).waitFor();
  assert.match(await big.textContent(), /the limit is 20 MB without a key/);
  await shot(page, 'upload-results');
  assert.equal(requests.filter((r) => r.startsWith('POST ')).length, uploadsBefore, 'the too-big file was sent');
  assert.deepEqual(problems, []);
});

test('key page end to end: create, copy, ShareX and curl, verify through the emailed link', async (t) => {
  const { page, response, problems } = await openPage(t, '/keys');
  assertPageHeaders(response);
  await assertAccessible(page, '/keys');
  await shot(page, 'keys-empty');
  await page.getByLabel('Email').fill('browser@example.com');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.locator('#key-result').waitFor();
  const key = await page.locator('#new-key').inputValue();
  assert.match(key, /^img_live_/);
  assert.ok(!page.url().includes(key));
  await page.locator('#key-result button[data-copy="new-key"]').click();
  await until('clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === key, 5000);
  assert.ok((await page.locator('#curl-line').inputValue()).includes(`Bearer ${key}" -F "file=@photo.jpg" ${base}/v1/upload`));
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByText('Download imgpipe.sxcu').click()]);
  assert.equal(download.suggestedFilename(), 'imgpipe.sxcu');
  const sxcu = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  assert.equal(sxcu.RequestURL, base + '/v1/upload');
  assert.equal(sxcu.Headers.Authorization, 'Bearer ' + key);
  assert.equal(sxcu.FileFormName, 'file');
  await assertAccessible(page, '/keys with a key');
  await shot(page, 'keys-created');
  // The verification link from the outbox.
  const outbox = path.join(dataDir, 'outbox');
  let link;
  await until('the verification mail', () => {
    for (const f of fs.readdirSync(outbox)) {
      const m = fs.readFileSync(path.join(outbox, f), 'utf8').replace(/=\r?\n/g, '').match(/https?:\/\/\S+\/v1\/keys\/verify\?token=[\w.=%-]+/);
      if (m) { link = m[0]; return true; }
    }
    return false;
  });
  const verified = await page.goto(link);
  assertPageHeaders(verified);
  assert.equal(await page.locator('h1').textContent(), 'Email verified');
  await assertAccessible(page, 'verify');
  await shot(page, 'verify-done');
  await page.goto(link);
  assert.equal(await page.locator('h1').textContent(), 'This link was already used');
  await page.goto('/v1/keys/verify?token=nonsense');
  assert.equal(await page.locator('h1').textContent(), 'This link does not work');
  assert.equal(await page.getByRole('link', { name: 'Get a new key' }).getAttribute('href'), '/keys');
  assert.ok(!serverLog.includes(key), 'the key is in the server log');
  assert.deepEqual(problems, []);
});

test('with a key: uploads are listed and deleted on the upload page', async (t) => {
  const created = await (await fetch(base + '/v1/keys', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'lister@example.com' }) })).json();
  const { page, problems } = await openPage(t, '/');
  await page.getByLabel('API key', { exact: true }).fill(created.key);
  await page.getByRole('button', { name: 'Save key' }).click();
  await page.locator('#files').setInputFiles(photo('portrait.jpg'));
  await waitDone(page, 'portrait.jpg');
  await page.getByRole('button', { name: 'Show my images' }).click();
  const mine = page.locator('#image-list li');
  await mine.first().waitFor();
  assert.equal(await mine.count(), 1);
  await assertAccessible(page, '/ with a key');
  await shot(page, 'upload-with-key');
  // By keyboard: Enter on Delete; focus stays on the page, not lost to <body>.
  await page.getByRole('button', { name: 'Delete portrait.jpg' }).focus();
  await page.keyboard.press('Enter');
  await until('the image to go', async () => (await mine.count()) === 0);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'mine-state');
  const left = await (await fetch(base + '/v1/images', { headers: { Authorization: 'Bearer ' + created.key } })).json();
  assert.deepEqual(left.data, []);  // the shape C list (docs/api.md)
  assert.ok(!page.url().includes(created.key));
  // Forgetting the key hides the list.
  await page.getByRole('button', { name: 'Forget key' }).click();
  assert.equal(await page.locator('#mine').isHidden(), true);
  assert.equal(await page.evaluate(() => localStorage.getItem('imgpipe.apiKey')), null);
  assert.ok(!serverLog.includes(created.key), 'the key is in the server log');
  assert.deepEqual(problems, []);
});

test('keyboard only: pick, import and copy without a mouse', async (t) => {
  const { page, problems } = await openPage(t, '/');
  assert.equal(await page.locator('#clear-recent').isHidden(), true, 'nothing to clear yet');
  // Listen for the file chooser before any key is pressed: Playwright turns on
  // Chromium's chooser interception asynchronously when the first listener is
  // added, and a chooser opened before that is never reported.
  const chooserOpened = page.waitForEvent('filechooser');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  // Tab to the pick button; Enter opens the file chooser.
  const focused = () => page.evaluate(() => document.activeElement.id);
  for (let i = 0; i < 10 && (await focused()) !== 'pick'; i++) await page.keyboard.press('Tab');
  assert.equal(await focused(), 'pick');
  await page.keyboard.press('Enter');
  const chooser = await chooserOpened;
  await chooser.setFiles(photo('medium.jpg'));
  await waitDone(page, 'medium.jpg');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'import-url');
  await page.keyboard.type(fixtureBase + '/photo.jpg');
  await page.keyboard.press('Enter');
  await waitDone(page, fixtureBase + '/photo.jpg');
  // Tab on to the first Copy button of the newest result and press it.
  for (let i = 0; i < 20 && !(await page.evaluate(() => document.activeElement.dataset.copy)); i++) await page.keyboard.press('Tab');
  const target = await page.evaluate(() => document.activeElement.dataset.copy);
  assert.ok(target, 'no copy button reached by Tab');
  const value = await page.locator('#' + target).inputValue();
  await page.keyboard.press('Enter');
  await until('clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === value, 5000);
  assert.deepEqual(problems, []);
});

test('a missing image or page is a page with a way home', async (t) => {
  for (const p of ['/nosuchimage1', '/docs/nope']) {
    const { page, response, problems } = await openPage(t, p);
    assert.equal(response.status(), 404, p);
    assertPageHeaders(response);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Not found');
    await page.getByRole('link', { name: 'Go to the upload page' }).click();
    await page.waitForURL(base + '/');
    await assertAccessible(page, p);
    assert.deepEqual(problems, [], p);
  }
});

test('docs pages: the site layout, code and links marked up, no sideways scrolling on a phone', async (t) => {
  const { page, problems } = await openPage(t, '/docs', { viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
  const wide = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  for (const p of ['/docs', '/docs/api', '/docs/errors', '/docs/keys', '/docs/formats', '/docs/agents']) {
    const response = await page.goto(p);
    assert.equal(response.status(), 200, p);
    assertPageHeaders(response);
    assert.equal(await page.locator('main h1').count(), 1, p);
    assert.equal(await page.locator('a.skip').getAttribute('href'), '#main', p);
    assert.equal(await wide(), 0, p + ' scrolls sideways');
    await assertAccessible(page, p);
  }
  await page.goto('/docs');
  assert.ok((await page.locator('main p code').count()) > 0, 'no `code` marked up on /docs');
  await page.locator('main p a[href$="/openapi.json"]').first().click();
  await page.waitForURL(/\/openapi\.json$/);
  assert.deepEqual(problems, []);
});

test('phone width: no sideways scrolling on any page', async (t) => {
  const { page, problems } = await openPage(t, '/', { viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
  await page.locator('#files').setInputFiles(photo('landscape.jpg'));
  await waitDone(page, 'landscape.jpg');
  const pageUrl = await page.locator('#uploads .copyrow input').first().inputValue();
  const wide = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(await wide(), 0, '/ scrolls sideways');
  await shot(page, 'phone-upload');
  for (const [p, name] of [['/keys', 'phone-keys'], ['/plans', 'phone-plans'], [pageUrl, 'phone-viewer']]) {
    await page.goto(p);
    assert.equal(await wide(), 0, p + ' scrolls sideways');
    await shot(page, name);
  }
  assert.deepEqual(problems, []);
});

test('plans page lists the running tiers', async (t) => {
  const { page, response, problems } = await openPage(t, '/plans');
  assertPageHeaders(response);
  const rows = page.locator('tbody tr');
  assert.ok((await rows.count()) >= 2);
  assert.match(await rows.first().textContent(), /Anonymous.*20 an hour.*100 a day.*30 days.*20 MB/);
  assert.match(await page.locator('tbody').textContent(), /free \(new keys\)100 a month5 GB.*70 MB/);
  await assertAccessible(page, '/plans');
  await shot(page, 'plans');
  assert.deepEqual(problems, []);
});

test('viewer page: details, downloads, copy buttons, Open Graph tags', async (t) => {
  const form = new FormData();
  form.append('file', new Blob([fs.readFileSync(photo('landscape.jpg'))], { type: 'image/jpeg' }), 'landscape.jpg');
  const up = await (await fetch(base + '/v1/upload', { method: 'POST', body: form })).json();
  const { page, response, problems } = await openPage(t, up.url);
  assertPageHeaders(response);
  assert.equal(await page.locator('meta[property="og:image"]').getAttribute('content'), up.src + '?size=l');
  assert.match(await page.locator('.facts').textContent(), new RegExp(`${up.width}×${up.height} pixels.*jpeg.*(KB|MB)`));
  const links = page.locator('.downloads a');
  assert.equal(await links.count(), 4);
  for (const href of await links.evaluateAll((as) => as.map((a) => a.href))) {
    const r = await fetch(href);
    assert.equal(r.status, 200, href);
    assert.match(r.headers.get('content-type'), /^image\//);
  }
  await until('image', () => page.locator('#image').evaluate((i) => i.complete && i.naturalWidth > 0));
  await page.locator('button[data-copy="image-url"]').click();
  await until('clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === up.src, 5000);
  await assertAccessible(page, 'viewer');
  await shot(page, 'viewer');
  const missing = await page.goto('/NoSuchImage1');
  assert.equal(missing.status(), 404);
  assert.deepEqual(problems, []);
});
