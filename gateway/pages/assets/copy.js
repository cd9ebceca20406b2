// Copy buttons: a button with data-copy="ID" copies the value of element ID
// and says so on the button (and to screen readers through role=status).
'use strict';
function imgpipeCopy(button, text) {
  const done = (label) => {
    const old = button.dataset.label || button.textContent;
    button.dataset.label = old;
    button.textContent = label;
    setTimeout(() => { button.textContent = old; }, 1500);
  };
  navigator.clipboard.writeText(text).then(() => done('Copied'), () => done('Copy failed: select and copy'));
}
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (source) imgpipeCopy(button, source.value !== undefined ? source.value : source.textContent);
});
