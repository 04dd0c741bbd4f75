"""The studio's keyboard rule: one dialog at a time, bound to what it is about, and no key
that acts behind it.

- **One dialog at a time.** Every dialog of a page (a re-run note, lineage, delivery, a bulk
  rule's confirmation) is opened through :func:`open_dialog`, which keeps one slot in the
  session state: opening one closes any other, so two dialogs are never drawn in one run (that
  is Streamlit's ``StreamlitInvalidLayoutContextError``).
- **Bound to its subject.** The slot holds the id of the image (or nothing) the dialog was
  opened for, taken when the key was pressed; the dialog reads that id, never "the image shown
  now", which a decision made meanwhile may have moved.
- **No key acts behind a dialog.** A button on the page asks :func:`shortcut` for its key: none
  while a dialog is open, so a letter typed with the focus outside the dialog's field cannot
  approve, favourite or open anything behind it.
- **In the browser** (:func:`keyboard_guard`, once per page): a dialog that opens puts the
  cursor in its first field (a text field, or the chosen option of a radio group; a select
  box is passed over; else its primary button), so typing goes where the person looks;
  ``Esc`` closes it (Streamlit's own, reported through ``on_dismiss``). Streamlit ignores
  shortcuts while any ``<input>`` has focus, radio buttons and checkboxes included; a plain
  letter typed on one of those is handed to the shortcuts, so ``P`` prepares a delivery right
  after a size was picked. Text fields keep every key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import streamlit as st

__all__ = [
    "Opened",
    "close_dialog",
    "is_open",
    "keyboard_guard",
    "open_dialog",
    "opened",
    "shortcut",
]

OPEN = "studio.dialog"


@dataclass(frozen=True)
class Opened:
    """The dialog open on the page: its name and the image (or other id) it is about."""

    name: str
    subject: uuid.UUID | None = None


def open_dialog(name: str, subject: uuid.UUID | None = None) -> None:
    """Open the dialog ``name`` about ``subject``; any other dialog closes."""
    st.session_state[OPEN] = Opened(name, subject)


def close_dialog() -> None:
    """Close whatever dialog is open (a dialog's ``on_dismiss``, or after it acted)."""
    st.session_state.pop(OPEN, None)


def opened(name: str | None = None) -> Opened | None:
    """The open dialog (only if it is ``name``, when given)."""
    value = st.session_state.get(OPEN)
    if not isinstance(value, Opened):
        return None
    return value if name is None or value.name == name else None


def is_open() -> bool:
    return opened() is not None


def shortcut(key: str) -> str | None:
    """The key for a button on the page: none while a dialog is open over it."""
    return None if is_open() else key


_GUARD = """
<script>
(() => {
  if (window.__visualizerKeyboard) return;
  window.__visualizerKeyboard = true;
  // A select box's search field (role=combobox) is not where typing should start.
  const TEXT = ['textarea', 'input:not([type])', 'input[type=text]', 'input[type=search]',
    'input[type=email]', 'input[type=password]', 'input[type=number]', 'input[type=url]']
    .map((field) => field + ':not([role=combobox])').join(', ');
  const CHOICE = 'input[type=radio], input[type=checkbox]';
  const PRIMARY = 'button[data-testid="stBaseButton-primary"], '
    + 'button[data-testid="stBaseButton-primaryFormSubmit"]';
  // Focus once per dialog opened, after the run that draws it has finished (until then the
  // dialog may still show the elements of the one drawn before at its place). A field drawn
  // later before the focused one (a lazily loaded widget) takes the focus over, until the
  // person presses a key.
  let settled = null;
  const focusDialog = () => {
    const dialog = document.querySelector('[role="dialog"]');
    if (!dialog) { settled = null; return; }
    if (document.querySelector('[data-testid="stApp"][data-test-script-state="running"]')) return;
    const title = (dialog.querySelector('h1, h2, h3') || dialog).textContent.slice(0, 200);
    const same = settled && settled.dialog === dialog && settled.title === title;
    if (same && settled.typed) return;
    let target = dialog.querySelector(TEXT + ', ' + CHOICE) || dialog.querySelector(PRIMARY);
    if (!target) return;
    if (target.type === 'radio' && target.name) {
      target = dialog.querySelector(`input[type=radio][name="${CSS.escape(target.name)}"]:checked`)
        || target;
    }
    if (same && document.activeElement === target) return;
    settled = {dialog, title, typed: false};
    target.focus();
  };
  window.addEventListener('keydown', () => { if (settled) settled.typed = true; }, true);
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; focusDialog(); });
  }).observe(document.body, {
    childList: true, subtree: true, attributes: true,
    attributeFilter: ['data-test-script-state'],
  });
  window.addEventListener('keydown', (event) => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement) || !target.matches(CHOICE)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (!/^[a-z0-9]$/i.test(event.key)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    for (const type of ['keydown', 'keyup']) {
      const copy = new KeyboardEvent(type, {
        key: event.key, code: event.code, shiftKey: event.shiftKey,
        bubbles: true, cancelable: true,
      });
      Object.defineProperty(copy, 'keyCode', {get: () => event.keyCode});
      Object.defineProperty(copy, 'which', {get: () => event.which});
      document.body.dispatchEvent(copy);
    }
  }, true);
})();
</script>
"""


def keyboard_guard() -> None:
    """Install the browser half of the keyboard rule (idempotent: once per browser tab)."""
    st.html(_GUARD, unsafe_allow_javascript=True)
