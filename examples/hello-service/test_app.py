from app import greeting


def test_greeting():
    assert greeting("tanuki") == {"greeting": "hello, tanuki"}
    assert greeting("") == {"greeting": "hello, world"}
