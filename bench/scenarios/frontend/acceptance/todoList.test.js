const assert = require("assert");
const { renderTodoList, countRemaining } = require("../src/todoList.js");

module.exports = {
  "renders items with ids": () => {
    const html = renderTodoList([{ id: 1, text: "milk", done: false }]);
    assert.ok(html.includes('<li class="todo" data-id="1">milk</li>'), html);
  },
  "escapes user text": () => {
    const html = renderTodoList([{ id: 2, text: '<img src=x onerror="alert(1)">&', done: false }]);
    assert.ok(!html.includes("<img"), html);
    assert.ok(html.includes("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;"), html);
  },
  "marks done items": () => {
    const html = renderTodoList([{ id: 3, text: "a", done: true }, { id: 4, text: "b", done: false }]);
    assert.ok(html.includes('<li class="todo done" data-id="3">a</li>'), html);
    assert.ok(html.includes('<li class="todo" data-id="4">b</li>'), html);
  },
  "empty state": () => {
    assert.strictEqual(renderTodoList([]), '<p class="empty">Nothing to do</p>');
  },
  "counts remaining": () => {
    assert.strictEqual(countRemaining([{ done: true }, { done: false }, { done: false }]), 2);
    assert.strictEqual(countRemaining([]), 0);
  },
};
