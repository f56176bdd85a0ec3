// A tiny render-to-string component for the todo list.
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function renderTodoList(items) {
  if (!items.length) {
    return '<p class="empty">Nothing to do</p>';
  }
  const rows = items.map((item) => {
    const cls = item.done ? "todo done" : "todo";
    return `<li class="${cls}" data-id="${escapeHtml(item.id)}">${escapeHtml(item.text)}</li>`;
  });
  return `<ul class="todos">${rows.join("")}</ul>`;
}

function countRemaining(items) {
  return items.filter((item) => !item.done).length;
}

module.exports = { renderTodoList, countRemaining, escapeHtml };
