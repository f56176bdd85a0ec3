"""A tiny JSON API over an in-memory note store."""


class NoteStore:
    def __init__(self):
        self.notes = {}
        self.next_id = 1

    def add(self, title, body=""):
        note = {"id": self.next_id, "title": title, "body": body}
        self.notes[self.next_id] = note
        self.next_id += 1
        return note


STORE = NoteStore()


def handle(method, path, body=None, store=STORE):
    parts = [p for p in path.split("/") if p]
    if parts == ["notes"]:
        if method == "GET":
            return 200, list(store.notes.values())
        if method == "POST":
            note = store.add(body["title"], body.get("body", ""))
            return 201, note
    if len(parts) == 2 and parts[0] == "notes":
        if method == "GET":
            return 200, store.notes[int(parts[1])]
    return 404, {"error": "not found"}
