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
NOT_FOUND = (404, {"error": "not found"})


def _valid_title(body):
    title = body.get("title") if isinstance(body, dict) else None
    return isinstance(title, str) and title.strip() != "" and len(title) <= 200


def _note_id(text):
    return int(text) if text.isdigit() else None


def handle(method, path, body=None, store=STORE):
    parts = [p for p in path.split("/") if p]
    if parts == ["notes"]:
        if method == "GET":
            return 200, list(store.notes.values())
        if method == "POST":
            if not _valid_title(body):
                return 400, {"error": "title must be a non-empty string of at most 200 characters"}
            return 201, store.add(body["title"], body.get("body", ""))
        return 405, {"error": "method not allowed"}
    if len(parts) == 2 and parts[0] == "notes":
        note_id = _note_id(parts[1])
        if method == "GET":
            return (200, store.notes[note_id]) if note_id in store.notes else NOT_FOUND
        if method == "DELETE":
            if note_id in store.notes:
                del store.notes[note_id]
                return 204, None
            return NOT_FOUND
        return 405, {"error": "method not allowed"}
    return NOT_FOUND
