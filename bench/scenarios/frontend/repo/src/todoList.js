// A tiny render-to-string component for the todo list.
function renderTodoList(items) {
  const rows = items.map((item) => `<li class="todo" data-id="${item.id}">${item.text}</li>`);
  return `<ul class="todos">${rows.join("")}</ul>`;
}

module.exports = { renderTodoList };
