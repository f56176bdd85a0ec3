import unittest

from app.api import NoteStore, handle


class NotesApi(unittest.TestCase):
    def setUp(self):
        self.store = NoteStore()

    def call(self, method, path, body=None):
        return handle(method, path, body, store=self.store)

    def test_create_and_get(self):
        status, note = self.call("POST", "/notes", {"title": "hello"})
        self.assertEqual(status, 201)
        self.assertEqual(self.call("GET", f"/notes/{note['id']}"), (200, note))

    def test_validation(self):
        for body in ({}, {"title": ""}, {"title": "   "}, {"title": 5}, {"title": "x" * 201}, None):
            status, payload = self.call("POST", "/notes", body)
            self.assertEqual(status, 400, body)
            self.assertIn("error", payload)
        self.assertEqual(self.store.notes, {})

    def test_unknown_ids(self):
        self.assertEqual(self.call("GET", "/notes/42"), (404, {"error": "not found"}))
        self.assertEqual(self.call("GET", "/notes/abc")[0], 404)

    def test_delete(self):
        _, note = self.call("POST", "/notes", {"title": "bye"})
        self.assertEqual(self.call("DELETE", f"/notes/{note['id']}"), (204, None))
        self.assertEqual(self.call("DELETE", f"/notes/{note['id']}")[0], 404)
        self.assertEqual(self.call("GET", f"/notes/{note['id']}")[0], 404)

    def test_method_not_allowed(self):
        self.assertEqual(self.call("PUT", "/notes")[0], 405)
        _, note = self.call("POST", "/notes", {"title": "t"})
        self.assertEqual(self.call("PATCH", f"/notes/{note['id']}")[0], 405)
