// The key page (/keys): create a key for an email, show it once with copy
// buttons, a curl line and a ShareX uploader (.sxcu) that carry it. The key
// stays in the page: never in a URL.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const base = document.getElementById('main').dataset.publicUrl;
  let sxcuUrl = '';

  function errorText(status, text) {
    try {
      const body = JSON.parse(text);
      const e = typeof body.error === 'object' && body.error !== null ? body.error : body;
      const action = e.action || {};
      return (e.message || e.error) + (action.label ? ' ' + action.label + '.' : '');
    } catch { return 'The server answered ' + status + '.'; }
  }

  function show(email, created) {
    const key = created.key;
    $('new-key').value = key;
    $('key-email').textContent = email;
    const l = created.limits || {};
    const storage = l.storage_mb >= 1024 && l.storage_mb % 1024 === 0 ? l.storage_mb / 1024 + ' GB' : l.storage_mb + ' MB';
    $('key-limits').textContent = 'Limits of this key: ' + l.uploads + ' uploads a month, ' + storage +
      ' of storage; uploads are kept ' + l.retention_days + ' days until your email is verified.';
    $('curl-line').value = 'curl -H "Authorization: Bearer ' + key + '" -F "file=@photo.jpg" ' + base + '/v1/upload';
    const sxcu = {
      Version: '15.0.0',
      Name: 'imgpipe (' + new URL(base).host + ')',
      DestinationType: 'ImageUploader',
      RequestMethod: 'POST',
      RequestURL: base + '/v1/upload',
      Headers: { Authorization: 'Bearer ' + key },
      Body: 'MultipartFormData',
      FileFormName: 'file',
      URL: '{json:src}',
      ThumbnailURL: '{json:src}?size=s',
      ErrorMessage: '{json:message}',
    };
    const text = JSON.stringify(sxcu, null, 2);
    $('sxcu-text').value = text;
    if (sxcuUrl) URL.revokeObjectURL(sxcuUrl);
    sxcuUrl = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    $('sxcu-link').href = sxcuUrl;
    $('key-result').hidden = false;
    $('key-result-h').focus();
  }

  $('key-create').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('key-error').textContent = '';
    const email = $('email').value.trim();
    const button = e.target.querySelector('button');
    button.disabled = true;
    try {
      const res = await fetch('/v1/keys', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email }) });
      const text = await res.text();
      if (res.ok) show(email, JSON.parse(text));
      else $('key-error').textContent = errorText(res.status, text);
    } catch {
      $('key-error').textContent = 'The connection failed. Check your network and try again.';
    } finally {
      button.disabled = false;
    }
  });
})();
